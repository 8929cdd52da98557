import { mkdirSync, statSync } from "node:fs";
import { dirname } from "node:path";
import SQLite from "better-sqlite3";
import { Kysely, SqliteDialect, sql } from "kysely";
import { sqlitePath } from "../database-url.js";
import type { Database } from "./schema.js";

/**
 * An open database: the read-write connection behind Kysely, the hot path's query-only
 * connection beside it, and the one call that closes both.
 */
export interface StoreConnections {
  /** Migrations, transactions and management reads. */
  readonly db: Kysely<Database>;
  /** The hot path's reads (see QueryOnlyConnection); undefined for an in-memory database. */
  readonly queryOnly: QueryOnlyConnection | undefined;
  /** Closes both connections; a second call waits for the first. */
  close(): Promise<void>;
}

/**
 * A second, query-only connection of the same database, for the Authorize hot path
 * (store/hot-lookup.ts): a prepared statement run synchronously skips Kysely's per-call work
 * and its connection queue, and a separate connection sees only committed data (never a
 * transaction still open on the read-write one).
 */
export interface QueryOnlyConnection {
  /** Prepares a single-row read; the returned function runs it synchronously. */
  prepare(sql: string): PreparedRead;
}

/** A single-row read, prepared once, run synchronously. */
export type PreparedRead = (parameters: readonly unknown[]) => unknown;

/**
 * The only file that knows which database engine is behind Kysely.
 * `sqlite:<path>` opens (and creates) an SQLite file in WAL mode.
 */
export function openDatabase(url: string): StoreConnections {
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
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: reusingStatements(sqlite) }) });
  const queryOnly = reader && queryOnlyConnection(reader);
  let closing: Promise<void> | undefined;
  return {
    db,
    queryOnly,
    close() {
      closing ??= (async () => {
        // The read-write connection last: the last one out checkpoints the WAL, and it is the one that writes.
        reader?.close();
        await db.destroy();
      })();
      return closing;
    },
  };
}

/**
 * The connection as Kysely sees it, with a statement cache: Kysely prepares every query anew,
 * so the same SQL text is prepared once and reused instead (better-sqlite3 runs statements
 * synchronously, so one is never in use twice at a time). It remembers statements, never
 * results: nothing here can answer a decision.
 */
function reusingStatements(sqlite: SQLite.Database) {
  const statements = new Map<string, SQLite.Statement>();
  return {
    prepare(sql: string) {
      let statement = statements.get(sql);
      if (statement === undefined) {
        statement = sqlite.prepare(sql);
        if (statements.size < MAX_CACHED_STATEMENTS) statements.set(sql, statement);
      }
      return statement;
    },
    close: () => {
      sqlite.close();
    },
  };
}

const MAX_CACHED_STATEMENTS = 1000;

function queryOnlyConnection(reader: SQLite.Database): QueryOnlyConnection {
  return {
    prepare(sql) {
      const statement = reader.prepare(sql);
      return (parameters) => statement.get(...parameters);
    },
  };
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
