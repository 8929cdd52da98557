import { readFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { createTestSchema, TEST_POSTGRES_URL, type TestSchema } from "../test/support/postgres-server.js";
import type { BenchContext } from "./context.js";
import { seedDatabase } from "./seed.js";

// Scenarios 10 and 11 run Keyward on PostgreSQL: a schema of their own, created for the run and
// dropped after it, named to the server through the URL's search_path exactly as the tests do
// (test/support/postgres-server.ts), so the server needs no schema setting.

/** Where the bench finds PostgreSQL: KEYWARD_BENCH_POSTGRES_URL, else the tests' server. */
export const BENCH_POSTGRES_URL = process.env.KEYWARD_BENCH_POSTGRES_URL ?? TEST_POSTGRES_URL;

/** The bench's PostgreSQL URL without its password, for messages and the report. */
export const BENCH_POSTGRES_WHERE = BENCH_POSTGRES_URL.replace(/\/\/[^@/]*@/, "//");

/**
 * Fails at once, before minutes of other scenarios, when scenarios 10 or 11 are to run and
 * PostgreSQL does not answer.
 */
export async function requirePostgres(): Promise<void> {
  const client = new pg.Client({ connectionString: BENCH_POSTGRES_URL, connectionTimeoutMillis: 3_000 });
  try {
    await client.connect();
    await client.query("select 1");
  } catch (error) {
    throw new Error(
      `scenarios 10 and 11 need PostgreSQL at ${BENCH_POSTGRES_WHERE} (set KEYWARD_BENCH_POSTGRES_URL, ` +
        `or leave them out with --only): ${(error as Error).message}`,
      { cause: error },
    );
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** A seeded schema and the bench context pointing at it; `drop()` removes the schema. */
export interface PostgresSeeded {
  readonly schema: TestSchema;
  readonly context: BenchContext;
}

/**
 * Creates a fresh schema and seeds it as the SQLite store is seeded (bench/seed.ts: migrations,
 * workspace "default", `keys` keys, an admin key), its secrets in a file of their own in the temp
 * dir; returns a context whose database, secrets and admin key are that schema's. The schema is
 * dropped again when seeding fails.
 */
export async function seedPostgresSchema(
  context: BenchContext,
  name: string,
  keys: number,
): Promise<PostgresSeeded> {
  let schema: TestSchema;
  try {
    schema = await createTestSchema(BENCH_POSTGRES_URL);
  } catch (error) {
    throw new Error(
      `${name}: no schema on PostgreSQL at ${BENCH_POSTGRES_WHERE}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  try {
    const secretsFile = join(context.tempDir, `secrets-${name}.txt`);
    const count = keys === 1 ? "1 key" : `${keys.toLocaleString("en-US")} keys`;
    context.progress(`${name}: seeding ${count} into schema ${schema.schema}`);
    const seeded = await seedDatabase({ database: schema.url, keys, secretsFile });
    context.progress(`${name}: seeded in ${seeded.seconds.toFixed(1)} s`);
    const lines = readFileSync(secretsFile, "utf8").split("\n", keys);
    return {
      schema,
      context: {
        ...context,
        database: schema.url,
        secretsFile,
        secrets: { first: lines[0] as string, last: lines[keys - 1] as string },
        adminSecret: seeded.adminSecret,
      },
    };
  } catch (error) {
    await schema.drop();
    throw error;
  }
}
