import { type Kysely, sql } from "kysely";
import { afterAll, beforeAll } from "vitest";
import { openDatabase } from "../../src/store/database.js";
import type { Database } from "../../src/store/schema.js";
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
    close,
  };
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
    close: () => current().close(),
  };
}
