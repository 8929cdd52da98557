import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Kysely } from "kysely";
import { openDatabase } from "../../src/store/database.js";
import { migrateToLatest } from "../../src/store/migrate.js";
import type { Database } from "../../src/store/schema.js";

/** A database URL in a directory of its own; cleanup removes the directory (close the database first). */
export interface TempDatabase {
  readonly url: string;
  /** The SQLite file the URL names; its -wal and -shm companions sit next to it. */
  readonly path: string;
  cleanup(): void;
}

/** A fresh `sqlite:` URL under the system temp directory; nothing is created until it is opened. */
export function tempSqliteUrl(): TempDatabase {
  const dir = mkdtempSync(join(tmpdir(), "keyward-test-"));
  const path = join(dir, "keyward.db");
  return {
    url: `sqlite:${path}`,
    path,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Opens the database and applies every migration, as the server does at startup. */
export async function openMigrated(url: string): Promise<Kysely<Database>> {
  const db = openDatabase(url);
  try {
    await migrateToLatest(db);
    return db;
  } catch (error) {
    await db.destroy();
    throw error;
  }
}
