import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import SQLite from "better-sqlite3";
import { Kysely, SqliteDialect } from "kysely";
import type { Database } from "./schema.js";

/**
 * The only file that knows which database engine is behind Kysely.
 * `sqlite:<path>` opens (and creates) an SQLite file in WAL mode.
 */
export function openDatabase(url: string): Kysely<Database> {
  const path = sqlitePath(url);
  if (path === undefined) throw new Error(`unsupported database URL (expected sqlite:<path>)`);
  if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
  const sqlite = new SQLite(path);
  sqlite.pragma("journal_mode = WAL");
  // FULL: a commit that returned survives a power loss, not only a process crash.
  sqlite.pragma("synchronous = FULL");
  sqlite.pragma("busy_timeout = 5000");
  sqlite.pragma("foreign_keys = ON");
  return new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
}

/** The file path of an `sqlite:` URL, or undefined when the URL is not one. */
export function sqlitePath(url: string): string | undefined {
  if (!url.startsWith("sqlite:")) return undefined;
  const path = url.slice("sqlite:".length).replace(/^\/\/(?=\/)/, "");
  return path === "" ? undefined : path;
}
