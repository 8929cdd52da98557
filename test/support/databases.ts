import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach } from "vitest";
import type { ApiKey } from "../../src/domain/key.js";
import type { Workspace } from "../../src/domain/workspace.js";
import { openDatabase, type StoreConnections } from "../../src/store/database.js";
import { createKyselyKeyStore } from "../../src/store/kysely-key-store.js";
import { migrateToLatest, migratorOf } from "../../src/store/migrate.js";
import { makeWorkspace, seed } from "./fixtures.js";
import { createTestSchema } from "./postgres-server.js";

/**
 * The database engine this test run is for: the vitest project's (vitest.config.ts runs the store
 * suites and the RPC suites listed there once per engine, KEYWARD_TEST_DATABASE naming it).
 */
export type TestDialect = "sqlite" | "postgres";

export const TEST_DIALECT: TestDialect =
  process.env.KEYWARD_TEST_DATABASE === "postgres" ? "postgres" : "sqlite";

/** A database of the run's engine that no other test uses; cleanup removes it (close it first). */
export interface TempDatabase {
  readonly url: string;
  /** The SQLite file the URL names (its -wal and -shm companions sit next to it); undefined on PostgreSQL. */
  readonly path: string | undefined;
  cleanup(): void | Promise<void>;
}

/** A fresh `sqlite:` URL under the system temp directory; nothing is created until it is opened. */
export function tempSqliteUrl(): TempDatabase & { readonly path: string } {
  const dir = mkdtempSync(join(tmpdir(), "keyward-test-"));
  const path = join(dir, "keyward.db");
  return {
    url: `sqlite:${path}`,
    path,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * A fresh database of the run's engine: an SQLite file (see tempSqliteUrl), or a schema of its own
 * on the PostgreSQL test server, named in the URL's search_path and dropped by cleanup.
 */
export async function tempDatabase(): Promise<TempDatabase> {
  if (TEST_DIALECT === "sqlite") return tempSqliteUrl();
  const schema = await createTestSchema();
  return { url: schema.url, path: undefined, cleanup: schema.drop };
}

/** Opens the database and applies every migration, as the server does at startup. */
export async function openMigrated(url: string): Promise<StoreConnections> {
  const database = await openDatabase(url);
  try {
    await migrateToLatest(database.db);
    return database;
  } catch (error) {
    await database.close();
    throw error;
  }
}

/** Opens the database and applies migrations up to and including `migration`, as an older release left it. */
export async function openMigratedTo(url: string, migration: string): Promise<StoreConnections> {
  const database = await openDatabase(url);
  const { db } = database;
  const { error } = await (await migratorOf(db)).migrateTo(migration);
  if (error !== undefined) {
    await database.close();
    throw new Error(`migration to ${migration} failed`, { cause: error });
  }
  return database;
}

/** A database per test: a fresh one before each, every opened handle closed and the database removed after. */
export interface PerTestDatabase {
  /** The current test's database location. */
  readonly temp: TempDatabase;
  /** Opens the current test's database, migrated to the latest version. */
  open(): Promise<StoreConnections>;
  /** Closes `database` after the test; close() again is a no-op, so tests may close their own. */
  track(database: StoreConnections): StoreConnections;
}

/** Registers beforeEach/afterEach hooks in the calling test file or describe block. */
export function perTestDatabase(): PerTestDatabase {
  let temp: TempDatabase | undefined;
  const opened: StoreConnections[] = [];
  beforeEach(async () => {
    temp = await tempDatabase();
  });
  afterEach(async () => {
    for (const database of opened.splice(0)) await database.close();
    await temp?.cleanup();
    temp = undefined;
  });
  const current = (): TempDatabase => {
    if (temp === undefined) throw new Error("perTestDatabase: used outside a test");
    return temp;
  };
  const track = (database: StoreConnections) => {
    opened.push(database);
    return database;
  };
  return {
    get temp() {
      return current();
    },
    open: async () => track(await openMigrated(current().url)),
    track,
  };
}

/**
 * Migrates the database at `url` and stores the records in it, then closes it: the setup of a test
 * that starts a server process on a database holding its keys already. Workspace "default" unless
 * `workspaces` says otherwise.
 */
export async function seedDatabase(
  url: string,
  records: { readonly keys: readonly ApiKey[]; readonly workspaces?: readonly Workspace[] },
): Promise<void> {
  const store = await openMigrated(url);
  try {
    await seed(createKyselyKeyStore(store.db, store.queryOnly), {
      workspaces: records.workspaces ?? [makeWorkspace("default")],
      keys: records.keys,
    });
  } finally {
    await store.close();
  }
}
