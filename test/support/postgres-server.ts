import { randomBytes } from "node:crypto";
import pg from "pg";

// The PostgreSQL server the tests use, and a schema of their own on it per test. Imported by
// vitest.config.ts (is there a server?) and by databases.ts (a fresh schema per test).

/** Where the PostgreSQL tests look for a server: trust auth, database `test`, user `postgres` by default. */
export const TEST_POSTGRES_URL =
  process.env.KEYWARD_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";

/**
 * Whether the server answers. When it does not: one line saying so and how to enable the tests
 * (they are then skipped), or, under CI (CI=true), an error: CI never skips them.
 */
export async function postgresReachable(url = TEST_POSTGRES_URL): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000 });
  try {
    await client.connect();
    await client.query("select 1");
    return true;
  } catch (error) {
    const reason = error instanceof Error && error.message !== "" ? error.message : String(error);
    const where = url.replace(/\/\/[^@/]*@/, "//");
    if (process.env.CI === "true") {
      throw new Error(`PostgreSQL tests: no server at ${where} (${reason}); CI never skips them`);
    }
    console.log(
      `skipped: PostgreSQL tests (no server at ${where}: ${reason}; set KEYWARD_TEST_POSTGRES_URL)`,
    );
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * postgresReachable, asked once per test run: vitest evaluates its configuration more than once
 * (the root and each project that extends it), and the skip line is to be said once. The answer is
 * kept in the environment, which those evaluations share.
 */
export async function postgresReachableOnce(): Promise<boolean> {
  const known = process.env[PROBED];
  if (known !== undefined) return known === "reachable";
  const reachable = await postgresReachable();
  process.env[PROBED] = reachable ? "reachable" : "unreachable";
  return reachable;
}

const PROBED = "KEYWARD_TEST_POSTGRES_PROBED";

/** A schema of its own on the test server, named through the URL's search_path so the server code needs no schema knowledge. */
export interface TestSchema {
  /** The test server's URL with `options=-c search_path=<schema>`. */
  readonly url: string;
  readonly schema: string;
  /** Drops the schema and everything in it. */
  drop(): Promise<void>;
}

export async function createTestSchema(base = TEST_POSTGRES_URL): Promise<TestSchema> {
  const schema = `kw_test_${randomBytes(6).toString("hex")}`;
  await admin(base, `create schema ${schema}`);
  const url = new URL(base);
  url.searchParams.set("options", `-c search_path=${schema}`);
  return {
    url: url.toString(),
    schema,
    drop: () => admin(base, `drop schema if exists ${schema} cascade`),
  };
}

async function admin(url: string, statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}
