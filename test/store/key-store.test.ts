import { readFileSync } from "node:fs";
import { type Kysely, sql } from "kysely";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openDatabase } from "../../src/store/database.js";
import { createKeyStore } from "../../src/store/key-store.js";
import { migrateToLatest } from "../../src/store/migrate.js";
import type { Database } from "../../src/store/schema.js";
import { StoreError } from "../../src/store/store-error.js";
import { openMigrated, type TempDatabase, tempSqliteUrl } from "../support/databases.js";
import { FIXTURE_NOW, makeKey } from "../support/fixtures.js";

// Every test runs against a real SQLite file; only its directory is per-test.
let temp: TempDatabase;
const opened: Kysely<Database>[] = [];

async function open(): Promise<Kysely<Database>> {
  const db = await openMigrated(temp.url);
  opened.push(db);
  return db;
}

beforeEach(() => {
  temp = tempSqliteUrl();
});

afterEach(async () => {
  // destroy() on an already destroyed instance is a no-op, so tests may close their own.
  for (const db of opened.splice(0)) await db.destroy();
  temp.cleanup();
});

describe("migrations", () => {
  it("create the api_keys table and its indexes, and a second run applies nothing", async () => {
    const db = openDatabase(temp.url);
    opened.push(db);

    expect(await migrateToLatest(db)).toEqual(["0001-create-api-keys"]);
    const objects = await sql<{ type: string; name: string }>`
      SELECT type, name FROM sqlite_master WHERE tbl_name = 'api_keys' ORDER BY name`.execute(db);
    expect(objects.rows).toEqual(
      expect.arrayContaining([
        { type: "table", name: "api_keys" },
        { type: "index", name: "api_keys_workspace_create_time" },
      ]),
    );
    // key_hash UNIQUE becomes an automatic index; its existence is what makes lookups by hash cheap.
    const hashIndexes = await sql<{ unique: number }>`
      SELECT il."unique" AS "unique" FROM pragma_index_list('api_keys') AS il
      JOIN pragma_index_info(il.name) AS ii WHERE ii.name = 'key_hash'`.execute(db);
    expect(hashIndexes.rows).toEqual([{ unique: 1 }]);

    expect(await migrateToLatest(db)).toEqual([]);
  });

  it("open the file in WAL mode with synchronous FULL", async () => {
    const db = await open();
    const journal = await sql<{ journal_mode: string }>`PRAGMA journal_mode`.execute(db);
    expect(journal.rows).toEqual([{ journal_mode: "wal" }]);
    const synchronous = await sql<{ synchronous: number }>`PRAGMA synchronous`.execute(db);
    expect(synchronous.rows).toEqual([{ synchronous: 2 }]); // 2 = FULL
  });
});

describe("createKeyStore", () => {
  it("returns an inserted key, field for field, by hash and by id", async () => {
    const store = createKeyStore(await open());
    const { key } = makeKey({
      scopes: ["models:read", "models:*"],
      classes: ["gpu", "batch:large"],
      metadata: { team: "search", "cost-center": "42", empty: "" },
      description: "résumé ✓ — with 'quotes' and \"doubles\"",
    });
    expect(key.expireTime).toBeNull();
    expect(key.revokeTime).toBeNull();

    await store.insertKey(key);

    expect(await store.findKeyByHash(key.keyHash)).toEqual(key);
    expect(await store.findKeyById(key.keyId)).toEqual(key);
  });

  it("round-trips expire and revoke times as numbers", async () => {
    const store = createKeyStore(await open());
    const { key } = makeKey({
      expireTime: FIXTURE_NOW + 86_400_000,
      status: "suspended",
      revokeTime: FIXTURE_NOW + 1,
      revokeReason: "held",
    });

    await store.insertKey(key);

    const found = await store.findKeyById(key.keyId);
    expect(found).toEqual(key);
    expect(typeof found?.expireTime).toBe("number");
  });

  it("answers undefined for an unknown hash or id", async () => {
    const store = createKeyStore(await open());
    const stored = makeKey();
    await store.insertKey(stored.key);
    const other = makeKey();

    expect(await store.findKeyByHash(other.key.keyHash)).toBeUndefined();
    expect(await store.findKeyById(other.key.keyId)).toBeUndefined();
  });

  it("rejects a second key with the same hash as a StoreError", async () => {
    const store = createKeyStore(await open());
    const first = makeKey();
    await store.insertKey(first.key);
    const clash = { ...makeKey().key, keyHash: first.key.keyHash };

    const error = await store.insertKey(clash).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(StoreError);
    expect(String((error as StoreError).cause)).toMatch(/UNIQUE constraint failed: api_keys\.key_hash/);
    expect(await store.findKeyById(clash.keyId)).toBeUndefined();
  });

  it("revokes once: a second revoke keeps the first time and reason", async () => {
    const store = createKeyStore(await open());
    const { key } = makeKey();
    await store.insertKey(key);

    const revoked = await store.revokeKey(key.keyId, "leaked", FIXTURE_NOW + 1000);
    expect(revoked).toEqual({
      ...key,
      status: "revoked",
      revokeTime: FIXTURE_NOW + 1000,
      revokeReason: "leaked",
    });

    const again = await store.revokeKey(key.keyId, "rotated", FIXTURE_NOW + 2000);
    expect(again).toEqual(revoked);
    expect(await store.findKeyByHash(key.keyHash)).toEqual(revoked);
  });

  it("revokes a suspended key, and leaves other keys alone", async () => {
    const store = createKeyStore(await open());
    const suspended = makeKey({ status: "suspended" }).key;
    const bystander = makeKey().key;
    await store.insertKey(suspended);
    await store.insertKey(bystander);

    const revoked = await store.revokeKey(suspended.keyId, "offboarded", FIXTURE_NOW + 5);

    expect(revoked?.status).toBe("revoked");
    expect(await store.findKeyById(bystander.keyId)).toEqual(bystander);
  });

  it("answers undefined when revoking an unknown id", async () => {
    const store = createKeyStore(await open());

    expect(await store.revokeKey("key_missing", "leaked", FIXTURE_NOW)).toBeUndefined();
  });

  it("keeps keys across closing and reopening the file", async () => {
    const first = await open();
    const kept = makeKey().key;
    const revoked = makeKey().key;
    await createKeyStore(first).insertKey(kept);
    await createKeyStore(first).insertKey(revoked);
    const afterRevoke = await createKeyStore(first).revokeKey(revoked.keyId, "leaked", FIXTURE_NOW + 1);
    await first.destroy();

    const store = createKeyStore(await open());

    expect(await store.findKeyByHash(kept.keyHash)).toEqual(kept);
    expect(await store.findKeyById(revoked.keyId)).toEqual(afterRevoke);
  });

  it("never writes the secret to the database file or its WAL", async () => {
    const store = createKeyStore(await open());
    const issued = [makeKey(), makeKey({ metadata: { note: "x" } }), makeKey({ environment: "test" })];
    for (const { key } of issued) await store.insertKey(key);

    // Read while open: committed rows are still in the -wal file until a checkpoint.
    const bytes = Buffer.concat([readFileSync(temp.path), readFileSync(`${temp.path}-wal`)]);

    for (const { key, secret } of issued) {
      // The search does see stored text: the hash and the display prefix are there.
      expect(bytes.includes(key.keyHash)).toBe(true);
      expect(bytes.includes(key.keyPrefix)).toBe(true);
      expect(bytes.includes(secret)).toBe(false);
      // Nor the random part alone (the stored key_prefix shows only its first characters).
      expect(bytes.includes(secret.slice(key.keyPrefix.length))).toBe(false);
    }
  });

  it("rejects every operation with a StoreError once the database is destroyed", async () => {
    const db = await open();
    const store = createKeyStore(db);
    const { key } = makeKey();
    await store.insertKey(key);
    await db.destroy();

    const attempts = [
      () => store.findKeyByHash(key.keyHash),
      () => store.findKeyById(key.keyId),
      () => store.insertKey(makeKey().key),
      () => store.revokeKey(key.keyId, "leaked", FIXTURE_NOW),
    ];

    for (const attempt of attempts) {
      const error = await attempt().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreError);
      expect((error as StoreError).cause).toBeInstanceOf(Error);
    }
  });
});
