import { describe, expect, it } from "vitest";
import { digestKey, digestOfHash, hashKey, hashOfDigest } from "../../src/domain/key-hash.js";
import type { KeyStore } from "../../src/domain/key-store.js";
import { createKyselyKeyStore } from "../../src/store/kysely-key-store.js";
import { perTestDatabase, TEST_DIALECT } from "../support/databases.js";
import {
  FIXTURE_NOW,
  makeKey,
  makeWorkspace,
  seed,
  verifiedKey,
  withoutMatcher,
} from "../support/fixtures.js";

// The hot lookup shares terms among keys (bench scenario 7): sharing must never mix up two keys.
const database = perTestDatabase();

async function newStore(): Promise<KeyStore> {
  const { db, queryOnly } = await database.open();
  return createKyselyKeyStore(db, queryOnly);
}

describe("findKeyByHash: shared terms", () => {
  it("gives keys issued with the same settings one terms object, and each its own id", async () => {
    const store = await newStore();
    const settings = { workspace: "acme", scopes: ["orders:read"], metadata: { team: "a" } };
    const a = makeKey(settings).key;
    const b = makeKey(settings).key;
    await seed(store, { workspaces: [makeWorkspace("acme")], keys: [a, b] });

    const foundA = await store.findKeyByHash(a.keyHash);
    const foundB = await store.findKeyByHash(b.keyHash);
    expect(foundA).toEqual(verifiedKey({ key: a, workspaceSuspended: false }));
    expect(foundB).toEqual(verifiedKey({ key: b, workspaceSuspended: false }));
    expect(foundA?.keyId).not.toBe(foundB?.keyId);
    expect(foundA?.terms).toBe(foundB?.terms);
  });

  it("keeps terms apart when any field that decides differs", async () => {
    const store = await newStore();
    const base = makeKey({ workspace: "acme", scopes: ["orders:read"] }).key;
    const variants = [
      base,
      makeKey({ workspace: "acme", scopes: ["orders:write"] }).key,
      makeKey({ workspace: "acme", scopes: ["orders:read"], classes: ["gpu"] }).key,
      makeKey({ workspace: "acme", scopes: ["orders:read"], expireTime: FIXTURE_NOW + 60_000 }).key,
      makeKey({ workspace: "acme", scopes: ["orders:read"], status: "suspended" }).key,
      makeKey({ workspace: "acme", scopes: ["orders:read"], ownerId: "ann" }).key,
      makeKey({ workspace: "acme", scopes: ["orders:read"], metadata: { tier: "gold" } }).key,
      makeKey({ workspace: "acme", scopes: ["orders:read"], environment: "test" }).key,
      makeKey({ workspace: "beta", scopes: ["orders:read"] }).key,
      // The limits (issue 12): enforcement reads them from the terms.
      makeKey({ workspace: "acme", scopes: ["orders:read"], tier: "pro" }).key,
      makeKey({ workspace: "acme", scopes: ["orders:read"], rateLimit: { limit: 5, windowMs: 1000 } }).key,
      makeKey({ workspace: "acme", scopes: ["orders:read"], rateLimit: { limit: 5, windowMs: 2000 } }).key,
      makeKey({ workspace: "acme", scopes: ["orders:read"], monthlyQuota: 10 }).key,
      makeKey({ workspace: "acme", scopes: ["orders:read"], credits: { remaining: 1, refill: undefined } })
        .key,
      makeKey({
        workspace: "acme",
        scopes: ["orders:read"],
        credits: { remaining: 1, refill: { amount: 1, interval: "daily" } },
      }).key,
      makeKey({ workspace: "acme", scopes: ["orders:read"], allowedCidrs: ["10.0.0.0/8"] }).key,
    ];
    await seed(store, { workspaces: [makeWorkspace("acme"), makeWorkspace("beta")], keys: variants });

    const terms = new Set();
    for (const key of variants) {
      const found = await store.findKeyByHash(key.keyHash);
      expect(withoutMatcher(found)).toEqual(withoutMatcher(verifiedKey({ key, workspaceSuspended: false })));
      expect(found?.terms.allowedFrom?.("10.1.2.3")).toBe(key.allowedCidrs.length > 0 ? true : undefined);
      terms.add(found?.terms);
    }
    expect(terms.size).toBe(variants.length);
  });

  it("shares one scope set among keys whose other terms differ", async () => {
    const store = await newStore();
    const a = makeKey({ workspace: "acme", scopes: ["orders:*"], expireTime: FIXTURE_NOW + 1 }).key;
    const b = makeKey({ workspace: "acme", scopes: ["orders:*"], expireTime: FIXTURE_NOW + 2 }).key;
    await seed(store, { workspaces: [makeWorkspace("acme")], keys: [a, b] });
    const [foundA, foundB] = [await store.findKeyByHash(a.keyHash), await store.findKeyByHash(b.keyHash)];
    expect(foundA?.terms).not.toBe(foundB?.terms);
    expect(foundA?.terms.scopes).toBe(foundB?.terms.scopes);
  });
});

describe("findKeyByHash: the connection it reads on", () => {
  it("answers on the query-only connection (synchronously on SQLite), and the same through Kysely without one", async () => {
    const { db, queryOnly } = await database.open();
    const { key } = makeKey();
    await seed(createKyselyKeyStore(db, queryOnly), { keys: [key] });
    const expected = verifiedKey({ key, workspaceSuspended: false });

    const onQueryOnly = createKyselyKeyStore(db, queryOnly).findKeyByHash(key.keyHash);
    // PostgreSQL's is a named prepared statement on a pooled connection: a promise, one round trip.
    expect(onQueryOnly instanceof Promise).toBe(TEST_DIALECT === "postgres");
    expect(await onQueryOnly).toEqual(expected);
    const viaKysely = createKyselyKeyStore(db, undefined).findKeyByHash(key.keyHash);
    expect(viaKysely).toBeInstanceOf(Promise);
    expect(await viaKysely).toEqual(expected);
    expect(await createKyselyKeyStore(db, undefined).findKeyByHash(makeKey().key.keyHash)).toBeUndefined();
  });
});

describe("digests", () => {
  it("are the stored hash in 32 latin1 characters, both ways", () => {
    const secret = "kw_live_example";
    const digest = digestKey(secret);
    expect(digest).toHaveLength(32);
    expect(hashOfDigest(digest)).toBe(hashKey(secret));
    expect(digestOfHash(hashKey(secret))).toBe(digest);
  });
});
