import { describe, expect, it } from "vitest";
import type { Admin } from "../../src/domain/admin-access.js";
import { type IssueKeyInput, issueKey } from "../../src/domain/issue-key.js";
import { parseKey } from "../../src/domain/key-format.js";
import { hashKey } from "../../src/domain/key-hash.js";
import type { KeyStore } from "../../src/domain/key-store.js";
import type { FailureCode, Outcome } from "../../src/domain/outcome.js";
import { updateKey } from "../../src/domain/update-key.js";
import { openDatabase } from "../../src/store/database.js";
import { createKyselyKeyStore } from "../../src/store/kysely-key-store.js";
import { perTestDatabase, TEST_DIALECT } from "../support/databases.js";
import {
  FIXTURE_NOW,
  makeKey,
  makeWorkspace,
  seed,
  TEST_ADMIN,
  TEST_CALLER,
  unwrap,
  verifiedKey,
} from "../support/fixtures.js";

// Domain operations whose rules live in their transaction: run against a real store (SQLite, and
// PostgreSQL in its project).
const database = perTestDatabase();
const LATER = FIXTURE_NOW + 60_000;

async function newStore(): Promise<KeyStore> {
  const { db, queryOnly } = await database.open();
  return createKyselyKeyStore(db, queryOnly);
}

function codeOf(outcome: Outcome<unknown>): FailureCode | "ok" {
  return outcome.ok ? "ok" : outcome.error.code;
}

function eventsOf(store: KeyStore, workspace = "default") {
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

describe("updateKey", () => {
  it("changes the given fields and records only those whose values changed", async () => {
    const store = await newStore();
    const { key } = makeKey({ scopes: ["a:read", "b:read"], metadata: { x: "1", y: "2" } });
    await seed(store, { keys: [key] });

    const updated = unwrap(
      await updateKey(
        store,
        TEST_ADMIN,
        TEST_CALLER,
        key.keyId,
        {
          name: key.name, // same value: not a change
          description: "now described",
          scopes: ["a:read", "b:read", "a:read"], // the same set once duplicates go
          metadata: { y: "2", x: "1" }, // the same entries in another order
          expireTime: LATER + 1,
        },
        LATER,
      ),
    );

    expect(updated).toEqual({
      ...key,
      description: "now described",
      expireTime: LATER + 1,
      updateTime: LATER,
    });
    expect(await store.findKeyById(key.keyId)).toEqual(updated);
    expect(await eventsOf(store)).toEqual([
      expect.objectContaining({
        action: "key.updated",
        targetId: key.keyId,
        changedFields: ["description", "expire_time"],
        time: LATER,
        actorKeyId: TEST_CALLER.actorKeyId,
        peer: TEST_CALLER.peer,
        userAgent: TEST_CALLER.userAgent,
      }),
    ]);
  });

  it("names every updatable field, in a fixed order, when all change", async () => {
    const store = await newStore();
    const { key } = makeKey({ expireTime: LATER + 5 });
    await seed(store, { keys: [key] });

    unwrap(
      await updateKey(
        store,
        TEST_ADMIN,
        TEST_CALLER,
        key.keyId,
        {
          metadata: { team: "ml" },
          ownerId: "user_other",
          expireTime: null, // clears the expiry
          classes: ["gpu"],
          scopes: ["models:write"],
          description: "d",
          name: "renamed",
        },
        LATER,
      ),
    );

    expect((await store.findKeyById(key.keyId))?.expireTime).toBeNull();
    const [event] = await eventsOf(store);
    expect(event?.changedFields).toEqual([
      "name",
      "description",
      "scopes",
      "classes",
      "expire_time",
      "owner_id",
      "metadata",
    ]);
  });

  it("writes nothing, not even the update time, when nothing changed", async () => {
    const store = await newStore();
    const { key } = makeKey({ metadata: { a: "1" } });
    await seed(store, { keys: [key] });

    for (const update of [
      {},
      { name: key.name, metadata: { a: "1" }, expireTime: null, scopes: key.scopes },
    ]) {
      expect(await updateKey(store, TEST_ADMIN, TEST_CALLER, key.keyId, update, LATER)).toEqual({
        ok: true,
        value: key,
      });
    }
    expect(await store.findKeyById(key.keyId)).toEqual(key);
    expect(await eventsOf(store)).toEqual([]);
  });

  it("updates a suspended key and keeps it suspended", async () => {
    const store = await newStore();
    const { key } = makeKey({ status: "suspended", suspendTime: FIXTURE_NOW, suspendReason: "hold" });
    await seed(store, { keys: [key] });

    const updated = unwrap(await updateKey(store, TEST_ADMIN, TEST_CALLER, key.keyId, { name: "n2" }, LATER));

    expect(updated).toMatchObject({ name: "n2", status: "suspended", suspendReason: "hold" });
  });

  it("refuses a revoked key with failed_precondition, writing nothing", async () => {
    const store = await newStore();
    const { key } = makeKey({ status: "revoked", revokeTime: FIXTURE_NOW, revokeReason: "leaked" });
    await seed(store, { keys: [key] });

    const outcome = await updateKey(store, TEST_ADMIN, TEST_CALLER, key.keyId, { name: "new" }, LATER);

    expect(codeOf(outcome)).toBe("failed_precondition");
    expect(await store.findKeyById(key.keyId)).toEqual(key);
    expect(await eventsOf(store)).toEqual([]);
  });

  it.each<[string, FailureCode, () => { keyId: string; admin?: Admin; scopes?: string[] }]>([
    ["an unknown key", "not_found", () => ({ keyId: "key_missing" })],
    ["an empty key id", "invalid_argument", () => ({ keyId: "" })],
    ["an invalid scope", "invalid_argument", () => ({ keyId: "key_x", scopes: ["Not A Scope"] })],
    [
      "another workspace's admin",
      "permission_denied",
      () => ({ keyId: "key_x", admin: { keyId: "key_a", workspace: "acme", global: false } }),
    ],
  ])("refuses %s with %s", async (_, code, make) => {
    const store = await newStore();
    const { key } = makeKey({ keyId: "key_x" });
    await seed(store, { keys: [key] });
    const { keyId, admin = TEST_ADMIN, scopes } = make();

    const outcome = await updateKey(
      store,
      admin,
      TEST_CALLER,
      keyId,
      { name: "z", ...(scopes && { scopes }) },
      LATER,
    );

    expect(codeOf(outcome)).toBe(code);
    expect(await store.findKeyById(key.keyId)).toEqual(key);
  });

  it("lets a global admin update any workspace's key", async () => {
    const store = await newStore();
    const { key } = makeKey({ workspace: "acme" });
    await seed(store, { keys: [key] });
    const global: Admin = { keyId: "key_root", workspace: "keyward", global: true };

    const outcome = await updateKey(store, global, TEST_CALLER, key.keyId, { name: "by root" }, LATER);

    expect(unwrap(outcome).name).toBe("by root");
    expect(await eventsOf(store, "acme")).toHaveLength(1);
  });
});

describe("issueKey", () => {
  function input(overrides: Partial<IssueKeyInput> = {}): IssueKeyInput {
    return {
      workspace: "",
      name: "issued",
      description: "",
      scopes: ["models:read"],
      classes: [],
      environment: undefined,
      prefix: "",
      expireTime: undefined,
      ttlMs: undefined,
      ownerId: "",
      metadata: {},
      ...overrides,
    };
  }

  it("refuses a workspace that does not exist with not_found, storing nothing", async () => {
    const store = await newStore();

    const outcome = await issueKey(store, TEST_ADMIN, TEST_CALLER, input(), FIXTURE_NOW);

    expect(codeOf(outcome)).toBe("not_found");
    expect(await store.countActiveKeys("default", FIXTURE_NOW)).toBe(0);
    expect(await eventsOf(store)).toEqual([]);
  });

  it("issues into an existing workspace with its defaults, and records key.issued", async () => {
    const store = await newStore();
    const workspace = makeWorkspace("default", { defaultKeyPrefix: "dflt", defaultEnvironment: "test" });
    await seed(store, { workspaces: [workspace] });

    const { key, secret } = unwrap(await issueKey(store, TEST_ADMIN, TEST_CALLER, input(), FIXTURE_NOW));

    expect(parseKey(secret)).toEqual({ prefix: "dflt", environment: "test" });
    expect(key.keyHash).toBe(hashKey(secret));
    expect(await store.findKeyByHash(key.keyHash)).toEqual(verifiedKey({ key, workspaceSuspended: false }));
    expect(await eventsOf(store)).toEqual([
      expect.objectContaining({ action: "key.issued", targetId: key.keyId, workspace: "default" }),
    ]);
  });

  it("refuses another workspace than the admin's own", async () => {
    const store = await newStore();
    await seed(store, { workspaces: [makeWorkspace("acme")] });

    const outcome = await issueKey(store, TEST_ADMIN, TEST_CALLER, input({ workspace: "acme" }), FIXTURE_NOW);

    expect(codeOf(outcome)).toBe("permission_denied");
  });

  it("stops at max_keys with resource_exhausted, not counting revoked or expired keys", async () => {
    const store = await newStore();
    await seed(store, {
      workspaces: [makeWorkspace("default", { maxKeys: 2 })],
      keys: [
        makeKey().key,
        makeKey({ status: "revoked", revokeTime: FIXTURE_NOW }).key,
        makeKey({ expireTime: FIXTURE_NOW + 10 }).key,
      ],
    });

    unwrap(await issueKey(store, TEST_ADMIN, TEST_CALLER, input(), FIXTURE_NOW + 10));
    const refused = await issueKey(store, TEST_ADMIN, TEST_CALLER, input(), FIXTURE_NOW + 10);

    expect(codeOf(refused)).toBe("resource_exhausted");
    expect(await store.countActiveKeys("default", FIXTURE_NOW + 10)).toBe(2);
    expect(await eventsOf(store)).toHaveLength(1);
  });

  it("lets only one of two concurrent issues take the last free place", async () => {
    const store = await newStore();
    await seed(store, { workspaces: [makeWorkspace("default", { maxKeys: 1 })] });

    const outcomes = await Promise.all([
      issueKey(store, TEST_ADMIN, TEST_CALLER, input(), FIXTURE_NOW),
      issueKey(store, TEST_ADMIN, TEST_CALLER, input(), FIXTURE_NOW),
    ]);

    expect(outcomes.map(codeOf).sort()).toEqual(["ok", "resource_exhausted"]);
    expect(await store.countActiveKeys("default", FIXTURE_NOW)).toBe(1);
  });

  // PostgreSQL only: each store a pool of its own, as replicas have; SQLite's writers are processes,
  // and better-sqlite3 would wait for the file's lock on this process's event loop.
  it.skipIf(TEST_DIALECT !== "postgres")(
    "lets only one of several replicas issuing at once take the last free place",
    async () => {
      const store = await newStore();
      await seed(store, { workspaces: [makeWorkspace("default", { maxKeys: 1 })] });
      const replicas = await Promise.all(
        [1, 2, 3].map(async () => {
          const { db, queryOnly } = database.track(await openDatabase(database.temp.url));
          return createKyselyKeyStore(db, queryOnly);
        }),
      );

      const outcomes = await Promise.all(
        replicas.map((replica) => issueKey(replica, TEST_ADMIN, TEST_CALLER, input(), FIXTURE_NOW)),
      );

      expect(outcomes.map(codeOf).sort()).toEqual(["ok", "resource_exhausted", "resource_exhausted"]);
      expect(await store.countActiveKeys("default", FIXTURE_NOW)).toBe(1);
    },
  );
});
