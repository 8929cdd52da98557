import { closeSync, openSync, writeSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import type { Insertable } from "kysely";
import { bootstrapAdmin } from "../src/cli/bootstrap.js";
import { systemClock } from "../src/domain/clock.js";
import { type IssueKeyInput, prepareKey } from "../src/domain/issue-key.js";
import { DEFAULT_WORKSPACE, newWorkspace } from "../src/domain/workspace.js";
import { openDatabase } from "../src/store/database.js";
import { migrateToLatest } from "../src/store/migrate.js";
import { rowFromKey } from "../src/store/rows.js";
import type { ApiKeyTable } from "../src/store/schema.js";
import { insertWorkspace } from "../src/store/workspace-queries.js";

/** The scopes of every seeded key; the bench requests ask for the first. */
export const SEED_SCOPES = ["orders:read", "orders:write"] as const;
export const REQUIRED_SCOPE = SEED_SCOPES[0];

/** What every seeded key is issued with (scenario 8 adds limits to it). */
export const SEED_KEY: IssueKeyInput = {
  workspace: DEFAULT_WORKSPACE,
  name: "bench key",
  description: "",
  scopes: SEED_SCOPES,
  classes: [],
  environment: "live",
  prefix: "",
  expireTime: undefined,
  ttlMs: undefined,
  ownerId: "bench-owner",
  metadata: {},
};

/** Rows per transaction. */
const TRANSACTION_ROWS = 20_000;
// Rows per multi-row INSERT: SQLite binds at most 32,766 parameters per statement (PostgreSQL
// 65,535), 22 per row here.
const STATEMENT_ROWS = 1_000;

export interface SeedOptions {
  /** `sqlite:<path>` of a file that does not exist yet, or `postgres://…` of an empty schema. */
  readonly database: string;
  readonly keys: number;
  /** Where the secrets go, one a line, in insertion order (a temp file, never bench/results). */
  readonly secretsFile: string;
}

export interface Seeded {
  /** A workspace admin key (keyward:admin) of the seeded workspace, for IssueKey. */
  readonly adminSecret: string;
  readonly keys: number;
  readonly seconds: number;
}

/**
 * Writes `keys` active keys of workspace "default" straight into the store, made by the
 * domain's own prepareKey (the records IssueKey would write), in large transactions, then
 * bootstraps an admin key as `keyward bootstrap` does.
 */
export async function seedDatabase(options: SeedOptions): Promise<Seeded> {
  const started = performance.now();
  const { db, close } = await openDatabase(options.database);
  const secrets = openSync(options.secretsFile, "w");
  try {
    await migrateToLatest(db);
    const now = systemClock.now();
    await insertWorkspace(db, newWorkspace(DEFAULT_WORKSPACE, now));
    const input = SEED_KEY;
    for (let done = 0; done < options.keys; done += TRANSACTION_ROWS) {
      const rows: Insertable<ApiKeyTable>[] = [];
      const lines: string[] = [];
      for (let i = done; i < Math.min(done + TRANSACTION_ROWS, options.keys); i++) {
        const prepared = prepareKey(input, now);
        if (!prepared.ok) throw new Error(`prepareKey refused the seed input: ${prepared.error.message}`);
        rows.push(rowFromKey(prepared.value.key));
        lines.push(prepared.value.secret);
      }
      await db.transaction().execute(async (trx) => {
        for (let at = 0; at < rows.length; at += STATEMENT_ROWS) {
          await trx
            .insertInto("api_keys")
            .values(rows.slice(at, at + STATEMENT_ROWS))
            .execute();
        }
      });
      writeSync(secrets, `${lines.join("\n")}\n`);
    }
  } finally {
    closeSync(secrets);
    await close();
  }
  const admin = await bootstrapAdmin(
    { database: options.database, workspace: DEFAULT_WORKSPACE, name: "bench admin" },
    systemClock,
  );
  if (!admin.ok) throw new Error(`bootstrap failed: ${admin.error.message}`);
  return {
    adminSecret: admin.value.secret,
    keys: options.keys,
    seconds: (performance.now() - started) / 1000,
  };
}

// node --import tsx bench/seed.ts --database sqlite:/tmp/x/keyward.db --keys 1000000 --secrets /tmp/x/secrets.txt
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: {
      database: { type: "string" },
      keys: { type: "string", default: "1000000" },
      secrets: { type: "string" },
    },
  });
  if (values.database === undefined || values.secrets === undefined) {
    process.stderr.write("usage: seed.ts --database sqlite:<path> --secrets <file> [--keys N]\n");
    process.exit(2);
  }
  const seeded = await seedDatabase({
    database: values.database,
    keys: Number(values.keys),
    secretsFile: values.secrets,
  });
  process.stdout.write(`seeded ${seeded.keys} keys in ${seeded.seconds.toFixed(1)} s\n`);
}
