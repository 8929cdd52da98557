import { readFileSync } from "node:fs";
import { type Kysely, sql } from "kysely";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { auditEvent } from "../../src/domain/audit.js";
import type { ApiKey } from "../../src/domain/key.js";
import { limitsOf, NO_LIMITS } from "../../src/domain/key-limits.js";
import type { KeyStore } from "../../src/domain/key-store.js";
import { fail, ok } from "../../src/domain/outcome.js";
import { revokeKey } from "../../src/domain/revoke-key.js";
import { StoreError } from "../../src/domain/unavailable.js";
import { openDatabase } from "../../src/store/database.js";
import { createKyselyKeyStore } from "../../src/store/kysely-key-store.js";
import { migrateToLatest } from "../../src/store/migrate.js";
import { rowFromKey, rowFromWorkspace } from "../../src/store/rows.js";
import type { Database } from "../../src/store/schema.js";
import { openMigratedTo, perTestDatabase, TEST_DIALECT } from "../support/databases.js";
import {
  FIXTURE_NOW,
  makeKey,
  makeWorkspace,
  seed,
  TEST_ADMIN,
  TEST_CALLER,
  unwrap,
  verifiedKey,
  withoutMatcher,
} from "../support/fixtures.js";
import { createTestSchema, TEST_POSTGRES_URL, type TestSchema } from "../support/postgres-server.js";

// Every test runs against a real database of its own: an SQLite file, or a PostgreSQL schema (the
// postgres project of vitest.config.ts). Tests of one engine's files or settings say so.
const database = perTestDatabase();
const notSqlite = TEST_DIALECT !== "sqlite";
const notPostgres = TEST_DIALECT !== "postgres";
/** What each engine says when a second key has the same hash. */
const DUPLICATE_HASH =
  /UNIQUE constraint failed: api_keys\.key_hash|unique constraint "api_keys_key_hash_key"/;

/** The tables and indexes of the current database (SQLite) or schema (PostgreSQL), Kysely's own left out. */
async function schemaObjects(db: Kysely<Database>): Promise<{ type: string; name: string }[]> {
  const { rows } =
    TEST_DIALECT === "sqlite"
      ? await sql<{ type: string; name: string }>`
          SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' AND name NOT LIKE 'kysely_%'`.execute(
          db,
        )
      : await sql<{ type: string; name: string }>`
          SELECT 'table' AS type, tablename AS name FROM pg_tables WHERE schemaname = current_schema()
          UNION ALL
          SELECT 'index', indexname FROM pg_indexes WHERE schemaname = current_schema()`.execute(db);
  return rows.filter((row) => !row.name.startsWith("kysely_"));
}

async function newStore(): Promise<KeyStore> {
  const { db, queryOnly } = await database.open();
  return createKyselyKeyStore(db, queryOnly);
}

/** Every audit event of a workspace, newest first. */
function eventsOf(store: KeyStore, workspace = TEST_ADMIN.workspace) {
  return store.listAuditEvents({
    workspace,
    action: undefined,
    targetId: "",
    startTime: undefined,
    endTime: undefined,
    after: undefined,
    limit: 100,
  });
}

/** Inserts a key as release 0001 stored it: only the columns that migration created. */
async function insertV1Row(db: Kysely<Database>, key: ApiKey): Promise<void> {
  await sql`
    INSERT INTO api_keys (key_id, workspace, name, description, key_prefix, key_hash, scopes, classes,
                          environment, status, create_time, expire_time, revoke_time, revoke_reason,
                          owner_id, metadata)
    VALUES (${key.keyId}, ${key.workspace}, ${key.name}, ${key.description}, ${key.keyPrefix},
            ${key.keyHash}, ${JSON.stringify(key.scopes)}, ${JSON.stringify(key.classes)},
            ${key.environment}, ${key.status}, ${key.createTime}, ${key.expireTime}, ${key.revokeTime},
            ${key.revokeReason}, ${key.ownerId}, ${JSON.stringify(key.metadata)})`.execute(db);
}

describe("migrations", () => {
  it("create the tables and their indexes, and a second run applies nothing", async () => {
    const { db } = database.track(await openDatabase(database.temp.url));

    expect(await migrateToLatest(db)).toEqual([
      "0001-create-api-keys",
      "0002-workspaces-and-audit",
      "0003-key-limits",
      "0004-key-usage",
    ]);
    expect(await schemaObjects(db)).toEqual(
      expect.arrayContaining([
        { type: "table", name: "api_keys" },
        { type: "index", name: "api_keys_workspace_create_time" },
        { type: "table", name: "workspaces" },
        { type: "table", name: "audit_events" },
        { type: "table", name: "key_usage" },
        { type: "index", name: "audit_events_workspace_time" },
      ]),
    );
    // key_hash UNIQUE becomes an index; its existence is what makes lookups by hash cheap.
    const hashIndexes =
      TEST_DIALECT === "sqlite"
        ? await sql<{ unique: number }>`
            SELECT il."unique" AS "unique" FROM pragma_index_list('api_keys') AS il
            JOIN pragma_index_info(il.name) AS ii WHERE ii.name = 'key_hash'`.execute(db)
        : await sql<{ unique: number }>`
            SELECT 1 AS "unique" FROM pg_indexes WHERE schemaname = current_schema()
            AND tablename = 'api_keys' AND indexdef LIKE 'CREATE UNIQUE INDEX % (key_hash)'`.execute(db);
    expect(hashIndexes.rows).toEqual([{ unique: 1 }]);

    expect(await migrateToLatest(db)).toEqual([]);
  });

  it.skipIf(notPostgres)(
    "on PostgreSQL, run once when several replicas migrate a fresh database at the same moment",
    async () => {
      const replicas = await Promise.all(
        Array.from({ length: 4 }, async () => database.track(await openDatabase(database.temp.url))),
      );

      const applied = await Promise.all(replicas.map(({ db }) => migrateToLatest(db)));

      expect(applied.flat().sort()).toEqual([
        "0001-create-api-keys",
        "0002-workspaces-and-audit",
        "0003-key-limits",
        "0004-key-usage",
      ]);
      const [first] = replicas as [(typeof replicas)[0]];
      const recorded = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(
        first.db,
      );
      expect(recorded.rows.map((row) => row.name)).toEqual(applied.flat().sort());
    },
  );

  it.skipIf(notPostgres)(
    "on PostgreSQL, migrate while another client creates and drops tables in other schemas",
    async () => {
      // The stock introspector resolved every table of every schema by name, and failed with
      // "relation does not exist" when one was dropped meanwhile (a CI run: other files' schemas).
      const others = await Promise.all([createTestSchema(), createTestSchema()]);
      const churn = new pg.Client({ connectionString: TEST_POSTGRES_URL });
      await churn.connect();
      let churning = true;
      const churned = (async () => {
        for (let i = 0; churning && i < 2_000; i++) {
          const other = others[i % 2] as TestSchema;
          const columns = Array.from({ length: 30 }, (_, c) => `c${c} int`).join(", ");
          // Two statements, two commits: the table is there for other clients, then gone.
          await churn.query(`create table ${other.schema}.t${i} (${columns})`);
          await churn.query(`drop table ${other.schema}.t${i}`);
        }
      })();
      try {
        for (let round = 0; round < 40; round++) {
          const fresh = await createTestSchema();
          const replicas = await Promise.all(
            Array.from({ length: 2 }, async () => database.track(await openDatabase(fresh.url))),
          );
          try {
            const applied = await Promise.all(replicas.map(({ db }) => migrateToLatest(db)));
            expect(applied.flat()).toHaveLength(4);
          } finally {
            await Promise.all(replicas.map((replica) => replica.close()));
            await fresh.drop();
          }
        }
      } finally {
        churning = false;
        await churned;
        await churn.end();
        await Promise.all(others.map((other) => other.drop()));
      }
    },
  );

  it.skipIf(notSqlite)("open the file in WAL mode with synchronous FULL", async () => {
    const { db } = await database.open();
    const journal = await sql<{ journal_mode: string }>`PRAGMA journal_mode`.execute(db);
    expect(journal.rows).toEqual([{ journal_mode: "wal" }]);
    const synchronous = await sql<{ synchronous: number }>`PRAGMA synchronous`.execute(db);
    expect(synchronous.rows).toEqual([{ synchronous: 2 }]); // 2 = FULL
  });

  it("0002 gives 0001 keys a workspace row each and an update time equal to their creation", async () => {
    const { db, queryOnly } = database.track(await openMigratedTo(database.temp.url, "0001-create-api-keys"));
    const acmeOld = makeKey({ workspace: "acme", now: FIXTURE_NOW + 1000 }).key;
    const acmeNew = makeKey({ workspace: "acme", now: FIXTURE_NOW + 3000 }).key;
    const beta = makeKey({ workspace: "beta", now: FIXTURE_NOW + 2000, expireTime: FIXTURE_NOW + 9000 }).key;
    const revoked = {
      ...beta,
      status: "revoked" as const,
      revokeTime: FIXTURE_NOW + 2500,
      revokeReason: "x",
    };
    // Inserted newest first, so that the workspace's time cannot come from insertion order.
    await insertV1Row(db, acmeNew);
    await insertV1Row(db, revoked);
    await insertV1Row(db, acmeOld);

    expect(await migrateToLatest(db)).toEqual([
      "0002-workspaces-and-audit",
      "0003-key-limits",
      "0004-key-usage",
    ]);

    const store = createKyselyKeyStore(db, queryOnly);
    const { workspaces, total } = await store.listWorkspaces(undefined, 10);
    expect(total).toBe(2);
    expect(workspaces).toEqual([
      makeWorkspace("acme", { now: FIXTURE_NOW + 1000 }),
      makeWorkspace("beta", { now: FIXTURE_NOW + 2000 }),
    ]);
    // makeKey's records already have updateTime = createTime and empty lifecycle fields.
    expect(await store.findKeyById(acmeOld.keyId)).toEqual(acmeOld);
    expect(await store.findKeyById(acmeNew.keyId)).toEqual(acmeNew);
    expect(await store.findKeyById(revoked.keyId)).toEqual({ ...revoked, updateTime: FIXTURE_NOW + 2000 });
    expect(await store.findKeyByHash(acmeNew.keyHash)).toEqual(
      verifiedKey({ key: acmeNew, workspaceSuspended: false }),
    );
    expect(await eventsOf(store, "acme")).toEqual([]);
  });

  it("0002 over an empty 0001 database creates no workspace", async () => {
    const { db, queryOnly } = database.track(await openMigratedTo(database.temp.url, "0001-create-api-keys"));
    expect(await migrateToLatest(db)).toEqual([
      "0002-workspaces-and-audit",
      "0003-key-limits",
      "0004-key-usage",
    ]);
    expect(await createKyselyKeyStore(db, queryOnly).listWorkspaces(undefined, 10)).toEqual({
      workspaces: [],
      total: 0,
    });
  });
});

describe("migration 0003 (key limits)", () => {
  it("leaves a key issued before it without limits, and its workspace without defaults", async () => {
    const { db, queryOnly } = database.track(
      await openMigratedTo(database.temp.url, "0002-workspaces-and-audit"),
    );
    const { key } = makeKey({ workspace: "acme", scopes: ["models:read"], now: FIXTURE_NOW + 1000 });
    const {
      tier,
      rate_limit,
      rate_limit_window_ms,
      monthly_quota,
      credits_remaining,
      credit_refill_amount,
      credit_refill_interval,
      allowed_cidrs,
      credits_set_time,
      ...v2Row
    } = rowFromKey(key);
    const { default_tier, default_monthly_quota, ...v2Workspace } = rowFromWorkspace(makeWorkspace("acme"));
    // Typed against today's schema; the 0002 tables lack the columns that were left out.
    await db
      .insertInto("workspaces")
      .values(v2Workspace as never)
      .execute();
    await db
      .insertInto("api_keys")
      .values(v2Row as never)
      .execute();

    expect(await migrateToLatest(db)).toEqual(["0003-key-limits", "0004-key-usage"]);

    const store = createKyselyKeyStore(db, queryOnly);
    const found = await store.findKeyById(key.keyId);
    expect(found).toEqual(key);
    expect(found && limitsOf(found)).toEqual(NO_LIMITS);
    const verified = await store.findKeyByHash(key.keyHash);
    expect(verified && limitsOf(verified.terms)).toEqual(NO_LIMITS);
    expect(await store.findWorkspace("acme")).toMatchObject({ defaultTier: "", defaultMonthlyQuota: 0 });
  });

  it("round-trips every limit through the record and the hot lookup", async () => {
    const store = await newStore();
    const { key } = makeKey({
      tier: "pro",
      rateLimit: { limit: 100, windowMs: 60_000 },
      monthlyQuota: 50_000,
      credits: { remaining: 7, refill: { amount: 100, interval: "monthly" } },
      allowedCidrs: ["10.0.0.0/8", "2001:db8::/32"],
    });
    await seed(store, { keys: [key] });
    expect(await store.findKeyById(key.keyId)).toEqual(key);
    const found = await store.findKeyByHash(key.keyHash);
    expect(withoutMatcher(found)).toEqual(withoutMatcher(verifiedKey({ key, workspaceSuspended: false })));
    expect(found?.terms.allowedFrom?.("2001:db8::1")).toBe(true);
    expect(found?.terms.allowedFrom?.("192.0.2.1")).toBe(false);
    const noRefill = makeKey({ credits: { remaining: 0, refill: undefined } }).key;
    await seed(store, { keys: [noRefill] });
    expect((await store.findKeyById(noRefill.keyId))?.credits).toEqual({
      remaining: 0,
      refill: undefined,
      setTime: noRefill.createTime, // issued with the key
    });
  });
});

describe("createKyselyKeyStore: records", () => {
  it("returns an inserted key, field for field, by hash and by id", async () => {
    const store = await newStore();
    const { key } = makeKey({
      scopes: ["models:read", "models:*"],
      classes: ["gpu", "batch:large"],
      metadata: { team: "search", "cost-center": "42", empty: "" },
      description: "résumé ✓ — with 'quotes' and \"doubles\"",
    });
    expect(key.expireTime).toBeNull();
    expect(key.revokeTime).toBeNull();

    await seed(store, { keys: [key] });

    expect(await store.findKeyByHash(key.keyHash)).toEqual(verifiedKey({ key, workspaceSuspended: false }));
    expect(await store.findKeyById(key.keyId)).toEqual(key);
  });

  it("round-trips every time as a number, and the lifecycle fields", async () => {
    const store = await newStore();
    const { key } = makeKey({
      expireTime: FIXTURE_NOW + 86_400_000,
      status: "suspended",
      revokeTime: FIXTURE_NOW + 1,
      revokeReason: "held",
      updateTime: FIXTURE_NOW + 2,
      suspendTime: FIXTURE_NOW + 3,
      suspendReason: "investigating",
      lastUsedTime: FIXTURE_NOW + 4,
      rotatedFromKeyId: "key_before",
      rotatedToKeyId: "key_after",
    });

    await seed(store, { keys: [key] });

    const found = await store.findKeyById(key.keyId);
    expect(found).toEqual(key);
    for (const time of [found?.expireTime, found?.updateTime, found?.suspendTime, found?.lastUsedTime]) {
      expect(typeof time).toBe("number");
    }
  });

  it("answers undefined for an unknown hash, id or workspace", async () => {
    const store = await newStore();
    await seed(store, { keys: [makeKey().key], workspaces: [makeWorkspace("acme")] });
    const other = makeKey();

    expect(await store.findKeyByHash(other.key.keyHash)).toBeUndefined();
    expect(await store.findKeyById(other.key.keyId)).toBeUndefined();
    expect(await store.findWorkspace("other")).toBeUndefined();
  });

  it("updateKey replaces the mutable fields but never the id's hash, prefix, creation time or workspace", async () => {
    const store = await newStore();
    const { key } = makeKey({ metadata: { a: "1" } });
    await seed(store, { keys: [key] });
    const changed: ApiKey = {
      ...makeKey({ workspace: "elsewhere", name: "renamed", scopes: ["b:c"], metadata: {} }).key,
      keyId: key.keyId,
      status: "suspended",
      suspendTime: FIXTURE_NOW + 5,
      suspendReason: "why",
      updateTime: FIXTURE_NOW + 5,
      expireTime: FIXTURE_NOW + 50,
      createTime: FIXTURE_NOW + 5,
    };

    unwrap(await store.transaction(async (tx) => ok(await tx.updateKey(changed))));

    expect(await store.findKeyById(key.keyId)).toEqual({
      ...changed,
      keyHash: key.keyHash,
      keyPrefix: key.keyPrefix,
      createTime: key.createTime,
      workspace: key.workspace,
    });
    expect(await store.findKeyByHash(changed.keyHash)).toBeUndefined();
  });

  it("round-trips workspaces, and updateWorkspace keeps the creation time", async () => {
    const store = await newStore();
    const acme = makeWorkspace("acme", {
      displayName: "Acme Inc. ✓",
      maxKeys: 5,
      defaultKeyPrefix: "acme",
      defaultEnvironment: "test",
    });
    await seed(store, { workspaces: [acme] });
    expect(await store.findWorkspace("acme")).toEqual(acme);

    const suspended = {
      ...acme,
      status: "suspended" as const,
      suspendTime: FIXTURE_NOW + 7,
      suspendReason: "unpaid",
      updateTime: FIXTURE_NOW + 7,
      maxKeys: 0,
    };
    unwrap(
      await store.transaction(async (tx) => ok(await tx.updateWorkspace({ ...suspended, createTime: 0 }))),
    );
    expect(await store.findWorkspace("acme")).toEqual(suspended);
  });

  it("round-trips audit events", async () => {
    const store = await newStore();
    const event = auditEvent(TEST_CALLER, FIXTURE_NOW, {
      workspace: "default",
      action: "key.updated",
      targetId: "key_x",
      changedFields: ["name", "metadata"],
      reason: "because ✓",
    });
    unwrap(await store.transaction(async (tx) => ok(await tx.recordEvent(event))));
    expect(await eventsOf(store)).toEqual([event]);
  });

  it("rejects a second key with the same hash as a StoreError", async () => {
    const store = await newStore();
    const first = makeKey();
    await seed(store, { keys: [first.key] });
    const clash = { ...makeKey().key, keyHash: first.key.keyHash };

    const error = await seed(store, { keys: [clash] }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(StoreError);
    expect(String((error as StoreError).cause)).toMatch(DUPLICATE_HASH);
    expect(await store.findKeyById(clash.keyId)).toBeUndefined();
  });
});

describe("createKyselyKeyStore: findKeyByHash and workspaces", () => {
  it("reports workspaceSuspended from the key's workspace row", async () => {
    const store = await newStore();
    const active = makeKey({ workspace: "acme" }).key;
    const suspended = makeKey({ workspace: "held" }).key;
    const orphan = makeKey({ workspace: "no-row" }).key;
    await seed(store, {
      workspaces: [makeWorkspace("acme"), makeWorkspace("held", { status: "suspended", suspendReason: "x" })],
      keys: [active, suspended, orphan],
    });

    expect(await store.findKeyByHash(active.keyHash)).toEqual(
      verifiedKey({ key: active, workspaceSuspended: false }),
    );
    expect(await store.findKeyByHash(suspended.keyHash)).toEqual(
      verifiedKey({
        key: suspended,
        workspaceSuspended: true,
      }),
    );
    // A key whose workspace has no row (none can be issued so) counts as in an active one.
    expect(await store.findKeyByHash(orphan.keyHash)).toEqual(
      verifiedKey({ key: orphan, workspaceSuspended: false }),
    );
  });

  it("sees a workspace's suspension and resumption on its keys' next lookup", async () => {
    const store = await newStore();
    const acme = makeWorkspace("acme");
    const key = makeKey({ workspace: "acme" }).key;
    await seed(store, { workspaces: [acme], keys: [key] });

    const setStatus = (status: "active" | "suspended") =>
      store.transaction(async (tx) => ok(await tx.updateWorkspace({ ...acme, status })));
    unwrap(await setStatus("suspended"));
    expect((await store.findKeyByHash(key.keyHash))?.terms.workspaceSuspended).toBe(true);
    unwrap(await setStatus("active"));
    expect((await store.findKeyByHash(key.keyHash))?.terms.workspaceSuspended).toBe(false);
  });
});

describe("createKyselyKeyStore: transaction", () => {
  it("commits the writes of work that succeeds, and returns its outcome", async () => {
    const store = await newStore();
    const { key } = makeKey();
    const event = auditEvent(TEST_CALLER, FIXTURE_NOW, {
      workspace: key.workspace,
      action: "key.issued",
      targetId: key.keyId,
    });

    const outcome = await store.transaction(async (tx) => {
      await tx.insertWorkspace(makeWorkspace(key.workspace));
      await tx.insertKey(key);
      await tx.recordEvent(event);
      return ok("done");
    });

    expect(outcome).toEqual({ ok: true, value: "done" });
    expect(await store.findKeyById(key.keyId)).toEqual(key);
    expect(await store.findWorkspace(key.workspace)).toEqual(makeWorkspace(key.workspace));
    expect(await eventsOf(store)).toEqual([event]);
  });

  it("lets the work read its own writes", async () => {
    const store = await newStore();
    const { key } = makeKey();

    const outcome = await store.transaction(async (tx) => {
      await tx.insertWorkspace(makeWorkspace(key.workspace));
      await tx.insertKey(key);
      return ok({
        key: await tx.findKeyById(key.keyId),
        workspace: await tx.findWorkspace(key.workspace),
        active: await tx.countActiveKeys(key.workspace, FIXTURE_NOW),
      });
    });

    expect(unwrap(outcome)).toEqual({ key, workspace: makeWorkspace(key.workspace), active: 1 });
  });

  it("rolls back every write made before a failed outcome, and returns that outcome as is", async () => {
    const store = await newStore();
    const kept = makeKey().key;
    await seed(store, { keys: [kept] });
    const { key } = makeKey();
    const failure = fail("failed_precondition", "changed my mind");

    const outcome = await store.transaction(async (tx) => {
      await tx.insertWorkspace(makeWorkspace(key.workspace));
      await tx.insertKey(key);
      await tx.updateKey({ ...kept, name: "renamed" });
      await tx.recordEvent(
        auditEvent(TEST_CALLER, FIXTURE_NOW, {
          workspace: key.workspace,
          action: "key.issued",
          targetId: "x",
        }),
      );
      return failure;
    });

    expect(outcome).toBe(failure);
    expect(await store.findKeyById(key.keyId)).toBeUndefined();
    expect(await store.findKeyById(kept.keyId)).toEqual(kept);
    expect(await store.findWorkspace(key.workspace)).toBeUndefined();
    expect(await eventsOf(store)).toEqual([]);
  });

  it("rolls back on an error thrown by the work and rethrows that error unwrapped", async () => {
    const store = await newStore();
    const { key } = makeKey();
    const bug = new Error("a bug in the work");

    const thrown = await store
      .transaction(async (tx) => {
        await tx.insertKey(key);
        throw bug;
      })
      .catch((e: unknown) => e);

    expect(thrown).toBe(bug);
    expect(thrown).not.toBeInstanceOf(StoreError);
    expect(await store.findKeyById(key.keyId)).toBeUndefined();
  });

  it("surfaces a driver failure inside the work as a StoreError and rolls back what came before", async () => {
    const store = await newStore();
    const first = makeKey().key;
    const clash = { ...makeKey().key, keyHash: first.keyHash };

    const thrown = await store
      .transaction(async (tx) => {
        await tx.insertKey(first);
        await tx.insertKey(clash);
        return ok(undefined);
      })
      .catch((e: unknown) => e);

    expect(thrown).toBeInstanceOf(StoreError);
    expect(String((thrown as StoreError).cause)).toMatch(DUPLICATE_HASH);
    expect(await store.findKeyById(first.keyId)).toBeUndefined();
  });

  it("runs concurrent transactions one after the other", async () => {
    const store = await newStore();
    const order: string[] = [];
    const work = (name: string) =>
      store.transaction(async (tx) => {
        order.push(`${name} begins`);
        await tx.insertKey(makeKey().key);
        await tx.countActiveKeys("default", FIXTURE_NOW);
        order.push(`${name} ends`);
        return ok(name);
      });

    expect(await Promise.all([work("a"), work("b")])).toEqual([ok("a"), ok("b")]);
    expect(order).toEqual(["a begins", "a ends", "b begins", "b ends"]);
    expect(await store.countActiveKeys("default", FIXTURE_NOW)).toBe(2);
  });
});

describe("revokeKey on the store", () => {
  it("revokes once: a second revoke keeps the first time and reason and records no second event", async () => {
    const store = await newStore();
    const { key } = makeKey();
    await seed(store, { keys: [key] });

    const revoked = unwrap(
      await revokeKey(store, TEST_ADMIN, TEST_CALLER, key.keyId, "leaked", FIXTURE_NOW + 1000),
    );
    expect(revoked).toEqual({
      ...key,
      status: "revoked",
      revokeTime: FIXTURE_NOW + 1000,
      revokeReason: "leaked",
      updateTime: FIXTURE_NOW + 1000,
    });

    const again = await revokeKey(store, TEST_ADMIN, TEST_CALLER, key.keyId, "rotated", FIXTURE_NOW + 2000);
    expect(again).toEqual(ok(revoked));
    expect(await store.findKeyByHash(key.keyHash)).toEqual(
      verifiedKey({ key: revoked, workspaceSuspended: false }),
    );
    const events = await eventsOf(store);
    expect(events).toEqual([
      expect.objectContaining({
        action: "key.revoked",
        targetId: key.keyId,
        reason: "leaked",
        time: FIXTURE_NOW + 1000,
        actorKeyId: TEST_CALLER.actorKeyId,
        workspace: key.workspace,
      }),
    ]);
  });

  it("revokes a suspended key, and leaves other keys alone", async () => {
    const store = await newStore();
    const suspended = makeKey({ status: "suspended" }).key;
    const bystander = makeKey().key;
    await seed(store, { keys: [suspended, bystander] });

    const revoked = await revokeKey(
      store,
      TEST_ADMIN,
      TEST_CALLER,
      suspended.keyId,
      "offboarded",
      FIXTURE_NOW,
    );

    expect(unwrap(revoked).status).toBe("revoked");
    expect(await store.findKeyById(bystander.keyId)).toEqual(bystander);
  });

  it("answers not_found when revoking an unknown id, writing nothing", async () => {
    const store = await newStore();

    const outcome = await revokeKey(store, TEST_ADMIN, TEST_CALLER, "key_missing", "leaked", FIXTURE_NOW);

    expect(outcome.ok ? "ok" : outcome.error.code).toBe("not_found");
    expect(await eventsOf(store)).toEqual([]);
  });

  it("answers permission_denied for another workspace's key, leaving it active", async () => {
    const store = await newStore();
    const { key } = makeKey({ workspace: "acme" });
    await seed(store, { keys: [key] });

    const outcome = await revokeKey(store, TEST_ADMIN, TEST_CALLER, key.keyId, "leaked", FIXTURE_NOW);

    expect(outcome.ok ? "ok" : outcome.error.code).toBe("permission_denied");
    expect(await store.findKeyById(key.keyId)).toEqual(key);
  });
});

describe("createKyselyKeyStore: durability and outages", () => {
  it("keeps keys, workspaces and events across closing and reopening the file", async () => {
    const first = await database.open();
    const kept = makeKey().key;
    const revoked = makeKey().key;
    await seed(createKyselyKeyStore(first.db, first.queryOnly), {
      keys: [kept, revoked],
      workspaces: [makeWorkspace("default")],
    });
    const afterRevoke = unwrap(
      await revokeKey(
        createKyselyKeyStore(first.db, first.queryOnly),
        TEST_ADMIN,
        TEST_CALLER,
        revoked.keyId,
        "leaked",
        FIXTURE_NOW + 1,
      ),
    );
    await first.close();

    const store = await newStore();

    expect(await store.findKeyByHash(kept.keyHash)).toEqual(
      verifiedKey({ key: kept, workspaceSuspended: false }),
    );
    expect(await store.findKeyById(revoked.keyId)).toEqual(afterRevoke);
    expect(await store.findWorkspace("default")).toEqual(makeWorkspace("default"));
    expect(await eventsOf(store)).toHaveLength(1);
  });

  it.skipIf(notSqlite)("never writes the secret to the database file or its WAL", async () => {
    const store = await newStore();
    const issued = [makeKey(), makeKey({ metadata: { note: "x" } }), makeKey({ environment: "test" })];
    await seed(store, { keys: issued.map(({ key }) => key) });
    for (const { key } of issued) {
      unwrap(await revokeKey(store, TEST_ADMIN, TEST_CALLER, key.keyId, "audit", FIXTURE_NOW));
    }

    // Read while open: committed rows are still in the -wal file until a checkpoint.
    const path = database.temp.path as string;
    const bytes = Buffer.concat([readFileSync(path), readFileSync(`${path}-wal`)]);

    for (const { key, secret } of issued) {
      // The search does see stored text: the hash and the display prefix are there.
      expect(bytes.includes(key.keyHash)).toBe(true);
      expect(bytes.includes(key.keyPrefix)).toBe(true);
      expect(bytes.includes(secret)).toBe(false);
      // Nor the random part alone (the stored key_prefix shows only its first characters).
      expect(bytes.includes(secret.slice(key.keyPrefix.length))).toBe(false);
    }
  });

  it("rejects every operation with a StoreError once the database is closed", async () => {
    const { db, queryOnly, close } = await database.open();
    const store = createKyselyKeyStore(db, queryOnly);
    const { key } = makeKey();
    await seed(store, { keys: [key] });
    await close();

    const attempts: [string, () => Promise<unknown>][] = [
      // Synchronous on SQLite: it throws rather than rejects; async wraps both alike.
      ["findKeyByHash", async () => store.findKeyByHash(key.keyHash)],
      ["findKeyById", () => store.findKeyById(key.keyId)],
      ["findWorkspace", () => store.findWorkspace("default")],
      ["countActiveKeys", () => store.countActiveKeys("default", FIXTURE_NOW)],
      [
        "listKeys",
        () =>
          store.listKeys({
            workspace: "default",
            status: undefined,
            environment: undefined,
            namePrefix: "",
            ownerId: "",
            after: undefined,
            limit: 10,
          }),
      ],
      ["listWorkspaces", () => store.listWorkspaces(undefined, 10)],
      ["listAuditEvents", () => eventsOf(store)],
      ["usageOf", () => store.usageOf([key.keyId], FIXTURE_NOW)],
      ["transaction", () => seed(store, { keys: [makeKey().key] })],
      ["revokeKey", () => revokeKey(store, TEST_ADMIN, TEST_CALLER, key.keyId, "leaked", FIXTURE_NOW)],
    ];

    for (const [name, attempt] of attempts) {
      const error = await attempt().catch((e: unknown) => e);
      expect(error, name).toBeInstanceOf(StoreError);
      expect((error as StoreError).cause, name).toBeInstanceOf(Error);
    }
  });

  it.skipIf(notPostgres)(
    "on PostgreSQL, answers a StoreError when its connections are cut, without ending the process, then reconnects",
    async () => {
      // Named in the URL (it wins over the pool's own application_name), so that only its connections are cut.
      const name = `kw_cut_${process.pid}_${Date.now()}`;
      const url = `${database.temp.url}&application_name=${name}`;
      const { db, queryOnly } = database.track(await openDatabase(url));
      await migrateToLatest(db);
      const store = createKyselyKeyStore(db, queryOnly);
      const { key } = makeKey();
      await seed(store, { keys: [key] });
      expect(await store.findKeyByHash(key.keyHash)).toBeDefined();
      const cut = async () => {
        const admin = database.track(await openDatabase(database.temp.url));
        await sql`select pg_terminate_backend(pid) from pg_stat_activity where application_name = ${name}`.execute(
          admin.db,
        );
        await admin.close();
      };

      await cut();
      // The pooled connections were idle: pg-pool drops each once it hears of its end, or once a
      // call on it has failed with a StoreError (fail closed); the calls after that connect anew.
      let found: unknown;
      for (let attempt = 0; attempt <= 10 && found === undefined; attempt++) {
        found = await (async () => store.findKeyByHash(key.keyHash))().catch((error: unknown) => {
          expect(error).toBeInstanceOf(StoreError);
          return undefined;
        });
      }
      expect(found).toBeDefined();
      // A connection ended while a transaction holds it: the transaction fails as an outage.
      const failed = await store
        .transaction(async (tx) => {
          await tx.findKeyById(key.keyId);
          await cut();
          await tx.findKeyById(key.keyId);
          return ok(undefined);
        })
        .catch((e: unknown) => e);
      expect(failed).toBeInstanceOf(StoreError);
      expect(await store.findKeyById(key.keyId)).toEqual(key);
    },
  );

  it("refuses to open a PostgreSQL server that does not answer, in one line naming it without its password", async () => {
    // Port 1 on the loopback: nothing listens, the connection is refused at once.
    const error = await openDatabase("postgres://keyward:hunter2@127.0.0.1:1/keyward").catch(
      (e: unknown) => e,
    );

    expect(error).toBeInstanceOf(Error);
    const message = (error as Error).message;
    expect(message).toMatch(/^database postgres:\/\/keyward:\*\*\*@127\.0\.0\.1:1\/keyward: .*ECONNREFUSED/);
    expect(message).not.toContain("hunter2");
    expect(message).not.toContain("\n");
  });
});
