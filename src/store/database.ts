import { mkdirSync, statSync } from "node:fs";
import { dirname } from "node:path";
import SQLite from "better-sqlite3";
import { Kysely, SqliteDialect, sql } from "kysely";
import { sqlitePath } from "../database-url.js";
import type { Database } from "./schema.js";

/**
 * The only file that knows which database engine is behind Kysely.
 * `sqlite:<path>` opens (and creates) an SQLite file in WAL mode.
 */
export function openDatabase(url: string): Kysely<Database> {
  const path = sqlitePath(url);
  if (path === undefined) throw new Error(`unsupported database URL (expected sqlite:<path>)`);
  let sqlite: SQLite.Database | undefined;
  let reader: SQLite.Database | undefined;
  try {
    if (path !== ":memory:") {
      mkdirSync(dirname(path), { recursive: true });
      if (statSync(path, { throwIfNoEntry: false })?.isDirectory()) throw new Error("is a directory");
    }
    sqlite = new SQLite(path);
    sqlite.pragma("journal_mode = WAL");
    // FULL: a commit that returned survives a power loss, not only a process crash.
    sqlite.pragma("synchronous = FULL");
    sqlite.pragma("busy_timeout = 5000");
    sqlite.pragma("foreign_keys = ON");
    probeWrite(sqlite);
    reader = path === ":memory:" ? undefined : openReader(path);
  } catch (error) {
    sqlite?.close();
    // One line naming the file: "a directory", "not a database", "readonly" are all the operator needs.
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`database ${path}: ${reason}`, { cause: error });
  }
  const main = sqlite;
  // Kysely closes what it was given on destroy(): close the reader with it.
  // Kysely prepares every query anew; the same SQL text is prepared once and reused instead
  // (better-sqlite3 runs statements synchronously, so one is never in use twice at a time).
  const statements = new Map<string, SQLite.Statement>();
  const database = {
    prepare(sql: string) {
      let statement = statements.get(sql);
      if (statement === undefined) {
        statement = main.prepare(sql);
        if (statements.size < MAX_CACHED_STATEMENTS) statements.set(sql, statement);
      }
      return statement;
    },
    close: () => {
      reader?.close();
      main.close();
    },
  };
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database }) });
  if (reader !== undefined) readers.set(db, reader);
  return db;
}

const MAX_CACHED_STATEMENTS = 1000;

/** A single-row read, prepared once, run synchronously. */
export type PreparedRead = (parameters: readonly unknown[]) => unknown;

const readers = new WeakMap<Kysely<Database>, SQLite.Database>();

/**
 * Prepares a read on a second, query-only connection of the same database, for
 * the Authorize hot path: a prepared statement run synchronously skips Kysely's
 * per-call work and its connection queue, and a separate connection sees only
 * committed data (never a transaction still open on the main one). Undefined
 * where the engine offers no such thing (an in-memory database).
 */
export function prepareRead(db: Kysely<Database>, sql: string): PreparedRead | undefined {
  const reader = readers.get(db);
  if (reader === undefined) return undefined;
  const statement = reader.prepare(sql);
  return (parameters) => statement.get(...parameters);
}

/**
 * Writes and rolls back, so that a file SQLite could open only read-only (permissions, a read-only
 * mount) stops start-up instead of failing the first IssueKey: SQLite opens such a file without
 * complaint, and BEGIN IMMEDIATE alone succeeds on it.
 */
function probeWrite(sqlite: SQLite.Database): void {
  sqlite.exec("begin immediate");
  try {
    const version = sqlite.pragma("user_version", { simple: true }) as number;
    sqlite.pragma(`user_version = ${version}`);
  } finally {
    sqlite.exec("rollback");
  }
}

function openReader(path: string): SQLite.Database {
  const reader = new SQLite(path);
  reader.pragma("busy_timeout = 5000");
  reader.pragma("query_only = ON");
  return reader;
}

/**
 * Begins a write transaction on `connection`. SQLite's BEGIN IMMEDIATE takes the
 * file's write lock at once (waiting up to busy_timeout), so with several server
 * processes on one file a read-then-write such as the workspace key limit cannot
 * interleave with another process's writes; a plain BEGIN would take the lock only
 * at the first write, and fail with SQLITE_BUSY if another process wrote meanwhile.
 */
export async function beginWrite(connection: Kysely<Database>): Promise<void> {
  await sql`begin immediate`.execute(connection);
}
