import { type Kysely, Migrator } from "kysely";
import { migrationSchema } from "./database.js";
import { migrationProvider } from "./migrations/index.js";
import type { Database } from "./schema.js";

/**
 * Applies pending migrations; throws with the failing migration's name and cause. Returns the names applied.
 * Several replicas may start at once on one PostgreSQL database: Kysely's migrator holds a session
 * advisory lock (pg_advisory_lock on a constant of its own) around the run and applies the pending
 * migrations in one transaction, so the first applies them and the others then find nothing to do
 * (test/store/kysely-key-store.test.ts, "migrations"); a second lock of ours would add nothing. On
 * SQLite the cluster primary migrates once before it forks any worker.
 */
export async function migrateToLatest(db: Kysely<Database>): Promise<string[]> {
  const migrator = await migratorOf(db);
  const { error, results } = await migrator.migrateToLatest();
  if (error !== undefined) {
    const failed = results?.find((r) => r.status === "Error")?.migrationName ?? "unknown";
    throw new Error(`migration ${failed} failed`, { cause: error });
  }
  return (results ?? []).filter((r) => r.status === "Success").map((r) => r.migrationName);
}

/** Kysely's migrator over our migrations, its own tables in the database's schema. */
export async function migratorOf(db: Kysely<Database>): Promise<Migrator> {
  const schema = await migrationSchema(db);
  return new Migrator({
    db,
    provider: migrationProvider,
    ...(schema !== undefined && { migrationTableSchema: schema }),
  });
}
