import { type Kysely, sql } from "kysely";
import { afterAll, beforeAll } from "vitest";
import type { PersistedUsage } from "../../src/domain/usage-delta.js";
import { openDatabase } from "../../src/store/database.js";
import type { Database } from "../../src/store/schema.js";
import { readUsage } from "../../src/store/usage-queries.js";
import { TEST_DIALECT } from "./databases.js";

/**
 * A connection beside a running server's, to its database, for what an operator or a fault would do
 * behind the server's back (rename a table, make writes fail), written once for both engines.
 */
export interface RawDatabase {
  /** Runs one statement that both engines understand (e.g. ALTER TABLE … RENAME TO …). */
  exec(statement: string): Promise<void>;
  /** Makes every INSERT or UPDATE of `table` fail with `message` until `passWrites(name)`. */
  failWrites(name: string, table: string, event: "insert" | "update", message: string): Promise<void>;
  passWrites(name: string, table: string): Promise<void>;
  /** Every row of Keyward's tables, as JSON text. */
  rows(): Promise<string>;
  /**
   * Starts watching for commits by other connections (of any process) that change the database, and
   * returns how to ask whether one has come since. SQLite: `PRAGMA data_version` on this connection,
   * which changes exactly when another connection has committed to the file. PostgreSQL has no such
   * number per schema (the WAL position and the statistics are the whole server's, and lag), so a
   * row trigger on every table of the schema counts each row written into a table of the witness's
   * own, in the writer's transaction: a count above zero is a commit that changed a row.
   */
  watchCommits(): Promise<() => Promise<boolean>>;
  close(): Promise<void>;
}

export async function openRaw(url: string): Promise<RawDatabase> {
  const { db, close } = await openDatabase(url);
  const exec = async (statement: string) => {
    await sql.raw(statement).execute(db);
  };
  return {
    exec,
    async failWrites(name, table, event, message) {
      if (TEST_DIALECT === "sqlite") {
        await exec(
          `CREATE TRIGGER ${name} BEFORE ${event} ON ${table} BEGIN SELECT RAISE(ABORT, '${message}'); END`,
        );
      } else {
        await exec(
          `CREATE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '${message}'; END $$`,
        );
        await exec(
          `CREATE TRIGGER ${name} BEFORE ${event} ON ${table} FOR EACH ROW EXECUTE FUNCTION ${name}()`,
        );
      }
    },
    async passWrites(name, table) {
      if (TEST_DIALECT === "sqlite") {
        await exec(`DROP TRIGGER ${name}`);
      } else {
        await exec(`DROP TRIGGER ${name} ON ${table}`);
        await exec(`DROP FUNCTION ${name}()`);
      }
    },
    rows: () => allRows(db),
    async watchCommits() {
      if (TEST_DIALECT === "sqlite") {
        const version = async () =>
          (await sql<{ data_version: number }>`PRAGMA data_version`.execute(db)).rows[0]?.data_version;
        const before = await version();
        return async () => (await version()) !== before;
      }
      const { rows } = await sql<{ table_name: string; schema: string }>`
        select table_name, current_schema() as schema from information_schema.tables
        where table_schema = current_schema() and table_type = 'BASE TABLE'`.execute(db);
      const schema = rows[0]?.schema;
      if (schema === undefined) throw new Error("watchCommits: the schema has no tables yet");
      const count = `${schema}.kw_test_rows_written`;
      await exec(`CREATE TABLE ${count} (n bigint NOT NULL)`);
      await exec(`INSERT INTO ${count} VALUES (0)`);
      await exec(
        `CREATE FUNCTION ${schema}.kw_test_count_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN UPDATE ${count} SET n = n + 1; RETURN NULL; END $$`,
      );
      for (const { table_name } of rows) {
        await exec(
          `CREATE TRIGGER kw_test_count_row AFTER INSERT OR UPDATE OR DELETE ON ${schema}.${table_name} FOR EACH ROW EXECUTE FUNCTION ${schema}.kw_test_count_row()`,
        );
      }
      return async () => {
        const written = await sql<{ n: string }>`select n from ${sql.raw(count)}`.execute(db);
        return Number(written.rows[0]?.n) > 0;
      };
    },
    close,
  };
}

/**
 * What the database at `url` holds of a key's usage this month, read with the query the limit book
 * loads with: for a test that checks what a server (stopped by then) wrote.
 */
export async function storedUsage(url: string, keyId: string): Promise<PersistedUsage> {
  const { db, close } = await openDatabase(url);
  try {
    return await readUsage(db, keyId, Date.now());
  } finally {
    await close();
  }
}

async function allRows(db: Kysely<Database>): Promise<string> {
  const tables = ["api_keys", "workspaces", "audit_events", "key_usage"] as const;
  const rows = await Promise.all(tables.map((table) => db.selectFrom(table).selectAll().execute()));
  return JSON.stringify(rows);
}

/**
 * openRaw on a fixture's database for the tests of the enclosing block (or file): opened before
 * them, closed after them. The returned object may be kept before it opens.
 */
export function useRawDatabase(server: { readonly database: string }): RawDatabase {
  let raw: RawDatabase | undefined;
  beforeAll(async () => {
    raw = await openRaw(server.database);
  });
  afterAll(async () => {
    await raw?.close();
    raw = undefined;
  });
  const current = (): RawDatabase => {
    if (raw === undefined) throw new Error("useRawDatabase: open only while its tests run");
    return raw;
  };
  return {
    exec: (statement) => current().exec(statement),
    failWrites: (name, table, event, message) => current().failWrites(name, table, event, message),
    passWrites: (name, table) => current().passWrites(name, table),
    rows: () => current().rows(),
    watchCommits: () => current().watchCommits(),
    close: () => current().close(),
  };
}
