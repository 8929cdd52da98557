import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cachedKeyStore } from "../../src/cache/cached-key-store.js";
import { createKeyCache, type KeyCache, type KeyCacheOptions } from "../../src/cache/key-cache.js";
import type { Admin } from "../../src/domain/admin-access.js";
import { authorize } from "../../src/domain/authorize.js";
import type { Clock } from "../../src/domain/clock.js";
import type { ApiKey, VerifiedKey } from "../../src/domain/key.js";
import { digestOfHash } from "../../src/domain/key-hash.js";
import type { KeyStore } from "../../src/domain/key-store.js";
import { resumeWorkspace, suspendWorkspace } from "../../src/domain/manage-workspaces.js";
import type { MaybePromise } from "../../src/domain/maybe-promise.js";
import { fail, ok } from "../../src/domain/outcome.js";
import { revokeKey } from "../../src/domain/revoke-key.js";
import { StoreError } from "../../src/domain/unavailable.js";
import type { StoreConnections } from "../../src/store/database.js";
import { createKyselyKeyStore } from "../../src/store/kysely-key-store.js";
import { openMigrated, TEST_DIALECT, type TempDatabase, tempDatabase } from "../support/databases.js";
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

const TTL_MS = 60_000;
const MISSING_TTL_MS = 5_000;

let temp: TempDatabase;
let database: StoreConnections;
let store: KeyStore;
// Starts well after 0: lru-cache treats an entry stored at time 0 as having no TTL.
let t: number;
const clock: Clock = { now: () => t };

beforeEach(async () => {
  t = FIXTURE_NOW;
  temp = await tempDatabase();
  database = await openMigrated(temp.url);
  store = createKyselyKeyStore(database.db, database.queryOnly);
});

afterEach(async () => {
  await database.close();
  await temp.cleanup();
});

/** The store's findKeyByHash, counting calls; `before` runs first and may hold or fail the call. */
function countingLoad(before?: (keyHash: string) => Promise<void>) {
  const calls: string[] = [];
  const load = async (keyHash: string): Promise<VerifiedKey | undefined> => {
    calls.push(keyHash);
    await before?.(keyHash);
    return store.findKeyByHash(keyHash);
  };
  return { calls, load };
}

function newCache(
  load: KeyCacheOptions["load"],
  options: Partial<Omit<KeyCacheOptions, "load" | "clock">> = {},
): KeyCache {
  return createKeyCache({
    load,
    clock,
    maxKeys: 100,
    ttlMs: TTL_MS,
    maxMissing: 100,
    missingTtlMs: MISSING_TTL_MS,
    ...options,
  });
}

/** The answer of a resolve that must not have waited: a hit or a remembered absence. */
function synchronous(answer: MaybePromise<VerifiedKey | undefined>): VerifiedKey | undefined {
  if (answer instanceof Promise) throw new Error("expected a synchronous answer, got a Promise");
  return answer;
}

/** The answer of a resolve that must have gone to the store. */
async function loaded(answer: MaybePromise<VerifiedKey | undefined>): Promise<VerifiedKey | undefined> {
  if (!(answer instanceof Promise)) throw new Error("expected a load (a Promise), got a cached answer");
  return answer;
}

/** What the cache holds for a stored key record. */
function verified(key: ApiKey): VerifiedKey {
  return verifiedKey({ key, workspaceSuspended: false });
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = () => {};
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

async function insert(overrides: Parameters<typeof makeKey>[0] = {}): Promise<ApiKey> {
  const { key } = makeKey(overrides);
  await seed(store, { keys: [key] });
  return key;
}

/** Revokes through the domain, as RevokeKey does; `target` is the plain store or a cachedKeyStore. */
async function revoke(target: KeyStore, key: ApiKey): Promise<ApiKey> {
  return unwrap(await revokeKey(target, TEST_ADMIN, TEST_CALLER, key.keyId, "leaked", t));
}

describe("createKeyCache", () => {
  it("loads a miss once, then answers hits synchronously without loading", async () => {
    const key = await insert({ scopes: ["models:*"], classes: ["gpu"] });
    const { calls, load } = countingLoad();
    const cache = newCache(load);

    const first = await loaded(cache.resolve(digestOfHash(key.keyHash)));
    expect(first).toEqual(verified(key));
    expect(first?.terms.workspaceSuspended).toBe(false);
    expect(first?.terms.classes).toEqual(new Set(["gpu"]));
    expect(calls).toEqual([key.keyHash]);

    const hit = synchronous(cache.resolve(digestOfHash(key.keyHash)));
    expect(hit).toBe(first);
    synchronous(cache.resolve(digestOfHash(key.keyHash)));
    expect(calls).toHaveLength(1);
    expect(cache.size).toEqual({ keys: 1, missing: 0 });
  });

  it("shares one load among concurrent resolves of the same hash", async () => {
    const key = await insert();
    const absent = makeKey().key.keyHash;
    const { calls, load } = countingLoad();
    const cache = newCache(load);

    const answers = [
      cache.resolve(digestOfHash(key.keyHash)),
      cache.resolve(digestOfHash(key.keyHash)),
      cache.resolve(digestOfHash(absent)),
      cache.resolve(digestOfHash(absent)),
    ];
    expect(answers[1]).toBe(answers[0]);
    expect(answers[3]).toBe(answers[2]);
    const [a, b, c, d] = await Promise.all(answers.map(loaded));

    expect(a).toEqual(verified(key));
    expect(b).toBe(a);
    expect(c).toBeUndefined();
    expect(d).toBeUndefined();
    expect(calls).toEqual([key.keyHash, absent]);
  });

  it("remembers an absent hash as undefined until the negative TTL passes, then loads again", async () => {
    const { key } = makeKey();
    const { calls, load } = countingLoad();
    const cache = newCache(load);

    expect(await loaded(cache.resolve(digestOfHash(key.keyHash)))).toBeUndefined();
    expect(cache.size).toEqual({ keys: 0, missing: 1 });
    // Stored behind the cache's back (not through cachedKeyStore): only the TTL can reveal it.
    await seed(store, { keys: [key] });

    t += MISSING_TTL_MS - 1;
    expect(synchronous(cache.resolve(digestOfHash(key.keyHash)))).toBeUndefined();
    expect(calls).toHaveLength(1);

    t += 2;
    const reloaded = await loaded(cache.resolve(digestOfHash(key.keyHash)));
    expect(reloaded).toEqual(verified(key));
    expect(calls).toHaveLength(2);
    expect(cache.stats.evicted).toEqual({
      keys: { changed: 0, capacity: 0, expired: 0 },
      absent: { changed: 0, capacity: 0, expired: 1 },
    });
  });

  it("reloads a known key once its TTL passes", async () => {
    const key = await insert();
    const { calls, load } = countingLoad();
    const cache = newCache(load);
    await loaded(cache.resolve(digestOfHash(key.keyHash)));
    // Revoked by another process: this cache hears of it only through the TTL.
    await revoke(store, key);

    t += TTL_MS - 1;
    expect(synchronous(cache.resolve(digestOfHash(key.keyHash)))?.terms.status).toBe("active");

    t += 2;
    const reloaded = await loaded(cache.resolve(digestOfHash(key.keyHash)));
    expect(reloaded?.terms.status).toBe("revoked");
    expect(calls).toHaveLength(2);
    expect(cache.stats.evicted.keys).toEqual({ changed: 0, capacity: 0, expired: 1 });
  });

  it("while its age is limited, trusts no entry, known or absent, older than the limit", async () => {
    // A replica that lost its LISTEN connection (cache/replica-listener.ts): KEYWARD_STALE_BOUND wins over the TTLs.
    const key = await insert();
    const { key: absent } = makeKey();
    const { calls, load } = countingLoad();
    const cache = newCache(load);
    await loaded(cache.resolve(digestOfHash(key.keyHash)));
    await loaded(cache.resolve(digestOfHash(absent.keyHash)));
    await revoke(store, key); // by another replica: this cache does not hear of it

    cache.limitAge(1000);
    expect(cache.maxAgeMs).toBe(1000);
    t += 1000;
    expect(synchronous(cache.resolve(digestOfHash(key.keyHash)))?.terms.status).toBe("active");
    expect(synchronous(cache.resolve(digestOfHash(absent.keyHash)))).toBeUndefined();
    t += 1;
    expect((await loaded(cache.resolve(digestOfHash(key.keyHash))))?.terms.status).toBe("revoked");
    await loaded(cache.resolve(digestOfHash(absent.keyHash)));
    expect(calls).toHaveLength(4);
    // Past the age limit counts as expired, as a TTL does.
    expect(cache.stats.evicted.keys.expired).toBe(1);
    expect(cache.stats.evicted.absent.expired).toBe(1);
    // Entries loaded while limited live for the limit too.
    t += 1001;
    await loaded(cache.resolve(digestOfHash(key.keyHash)));

    cache.limitAge(undefined);
    expect(cache.maxAgeMs).toBeUndefined();
    t += 10_000; // within the TTL again
    expect(synchronous(cache.resolve(digestOfHash(key.keyHash)))?.terms.status).toBe("revoked");
    expect(calls).toHaveLength(5);
  });

  it("evict drops known and absent entries alike", async () => {
    const key = await insert();
    const absent = makeKey().key.keyHash;
    const { calls, load } = countingLoad();
    const cache = newCache(load);
    await loaded(cache.resolve(digestOfHash(key.keyHash)));
    await loaded(cache.resolve(digestOfHash(absent)));
    expect(cache.size).toEqual({ keys: 1, missing: 1 });

    cache.evict(key.keyHash);
    cache.evict(absent);
    cache.evict(makeKey().key.keyHash); // nothing held: nothing counted

    expect(cache.size).toEqual({ keys: 0, missing: 0 });
    expect(cache.stats.evicted).toEqual({
      keys: { changed: 1, capacity: 0, expired: 0 },
      absent: { changed: 1, capacity: 0, expired: 0 },
    });
    expect(await loaded(cache.resolve(digestOfHash(key.keyHash)))).toEqual(verified(key));
    expect(await loaded(cache.resolve(digestOfHash(absent)))).toBeUndefined();
    expect(calls).toEqual([key.keyHash, absent, key.keyHash, absent]);
  });

  it("does not let a load that started before an evict fill the cache", async () => {
    const key = await insert();
    const gate = deferred();
    const { calls, load } = countingLoad(() => gate.promise);
    const cache = newCache(load);

    const inFlight = cache.resolve(digestOfHash(key.keyHash));
    cache.evict(key.keyHash);
    gate.resolve();
    // Its own caller still gets the answer; only the cache ignores it.
    expect(await loaded(inFlight)).toEqual(verified(key));
    expect(cache.size).toEqual({ keys: 0, missing: 0 });

    const next = cache.resolve(digestOfHash(key.keyHash));
    expect(next).not.toBe(inFlight);
    expect(await loaded(next)).toEqual(verified(key));
    expect(calls).toHaveLength(2);
    // A load that started after the evict does fill it.
    expect(synchronous(cache.resolve(digestOfHash(key.keyHash)))).toEqual(verified(key));
  });

  it("does not keep a record read before a concurrent revoke", async () => {
    const key = await insert();
    const read = deferred();
    const gate = deferred();
    const cache = newCache(async (keyHash) => {
      const found = await store.findKeyByHash(keyHash);
      read.resolve();
      await gate.promise;
      return found;
    });
    const managed = cachedKeyStore(store, cache);

    const racing = cache.resolve(digestOfHash(key.keyHash));
    await read.promise; // the load holds the active record
    await revoke(managed, key);
    gate.resolve();
    expect((await loaded(racing))?.terms.status).toBe("active");

    expect((await loaded(cache.resolve(digestOfHash(key.keyHash))))?.terms.status).toBe("revoked");
  });

  it("holds at most maxKeys known keys and maxMissing absent hashes", async () => {
    const { calls, load } = countingLoad();
    const cache = newCache(load, { maxKeys: 3, maxMissing: 2 });
    const keys: ApiKey[] = [];
    for (let i = 0; i < 5; i++) keys.push(await insert());

    for (const key of keys) {
      await loaded(cache.resolve(digestOfHash(key.keyHash)));
      expect(cache.size.keys).toBeLessThanOrEqual(3);
    }
    for (let i = 0; i < 4; i++) {
      await loaded(cache.resolve(digestOfHash(makeKey().key.keyHash)));
      expect(cache.size.missing).toBeLessThanOrEqual(2);
    }
    expect(cache.size).toEqual({ keys: 3, missing: 2 });
    expect(cache.stats.evicted).toEqual({
      keys: { changed: 0, capacity: 2, expired: 0 },
      absent: { changed: 0, capacity: 2, expired: 0 },
    });

    // Least recently used went first: the newest three are hits, the oldest is loaded again.
    for (const key of keys.slice(2))
      expect(synchronous(cache.resolve(digestOfHash(key.keyHash)))).toEqual(verified(key));
    const [oldest] = keys;
    if (oldest === undefined) throw new Error("no keys");
    const before = calls.length;
    await loaded(cache.resolve(digestOfHash(oldest.keyHash)));
    expect(calls.length).toBe(before + 1);

    // A clear() forgets every entry held, each counted as changed.
    cache.clear();
    expect(cache.size).toEqual({ keys: 0, missing: 0 });
    expect(cache.stats.evicted).toEqual({
      keys: { changed: 3, capacity: 3, expired: 0 },
      absent: { changed: 2, capacity: 2, expired: 0 },
    });
  });

  it("rejects a failing load to every waiter, caches nothing, and retries on the next resolve", async () => {
    const key = await insert();
    let failures = 1;
    const { calls, load } = countingLoad(async () => {
      if (failures-- > 0)
        throw new StoreError("find key by hash", new Error("SQLITE_BUSY: database is locked"));
    });
    const cache = newCache(load);

    const first = cache.resolve(digestOfHash(key.keyHash));
    const second = cache.resolve(digestOfHash(key.keyHash));
    await expect(loaded(first)).rejects.toBeInstanceOf(StoreError);
    await expect(loaded(second)).rejects.toBeInstanceOf(StoreError);
    expect(cache.size).toEqual({ keys: 0, missing: 0 });

    expect(await loaded(cache.resolve(digestOfHash(key.keyHash)))).toEqual(verified(key));
    expect(calls).toHaveLength(2);
  });
});

// PostgreSQL's read is a promise: the tests above, which await every load, cover it.
describe.skipIf(TEST_DIALECT !== "sqlite")("createKeyCache over the store's synchronous SQLite read", () => {
  it("answers a miss synchronously, then from the cache, and forgets on evict", async () => {
    const key = await insert();
    const absent = makeKey().key.keyHash;
    const cache = newCache(store.findKeyByHash);
    expect(synchronous(cache.resolve(digestOfHash(key.keyHash)))).toEqual(verified(key));
    expect(synchronous(cache.resolve(digestOfHash(absent)))).toBeUndefined();
    expect(cache.size).toEqual({ keys: 1, missing: 1 });

    const revoked = await revoke(store, key);
    expect(synchronous(cache.resolve(digestOfHash(key.keyHash)))?.terms.status).toBe("active"); // cached
    cache.evict(key.keyHash);
    expect(synchronous(cache.resolve(digestOfHash(key.keyHash)))).toEqual(verified(revoked));
  });

  it("throws a StoreError at once when the read fails, and caches nothing", async () => {
    const key = await insert();
    const cache = newCache(store.findKeyByHash);
    await database.close();
    expect(() => cache.resolve(digestOfHash(key.keyHash))).toThrow(StoreError);
    expect(cache.size).toEqual({ keys: 0, missing: 0 });
  });
});

describe("cachedKeyStore", () => {
  it("clears a remembered absence when the key is inserted", async () => {
    const { key } = makeKey();
    const { calls, load } = countingLoad();
    const cache = newCache(load);
    const managed = cachedKeyStore(store, cache);
    expect(await loaded(cache.resolve(digestOfHash(key.keyHash)))).toBeUndefined();
    expect(synchronous(cache.resolve(digestOfHash(key.keyHash)))).toBeUndefined();

    unwrap(
      await managed.transaction(async (tx) => {
        await tx.insertKey(key);
        return ok(undefined);
      }),
    );

    expect(await loaded(cache.resolve(digestOfHash(key.keyHash)))).toEqual(verified(key));
    expect(calls).toHaveLength(2);
  });

  it("drops the cached record on revoke, so the next resolve sees it revoked", async () => {
    const key = await insert();
    const { calls, load } = countingLoad();
    const cache = newCache(load);
    const managed = cachedKeyStore(store, cache);
    await loaded(cache.resolve(digestOfHash(key.keyHash)));
    expect(synchronous(cache.resolve(digestOfHash(key.keyHash)))?.terms.status).toBe("active");

    const revoked = await revoke(managed, key);

    expect(revoked.status).toBe("revoked");
    const reloaded = await loaded(cache.resolve(digestOfHash(key.keyHash)));
    expect(reloaded).toEqual(verified(revoked));
    expect(calls).toHaveLength(2);
  });

  it("evicts only the keys a transaction touched, also when it rolls back", async () => {
    const touched = await insert();
    const bystander = await insert();
    const { calls, load } = countingLoad();
    const cache = newCache(load);
    const managed = cachedKeyStore(store, cache);
    await loaded(cache.resolve(digestOfHash(touched.keyHash)));
    await loaded(cache.resolve(digestOfHash(bystander.keyHash)));

    const outcome = await managed.transaction(async (tx) => {
      await tx.updateKey({ ...touched, name: "never committed" });
      return fail("failed_precondition", "rolled back");
    });

    expect(outcome.ok).toBe(false);
    expect(synchronous(cache.resolve(digestOfHash(bystander.keyHash)))).toEqual(verified(bystander));
    expect(await loaded(cache.resolve(digestOfHash(touched.keyHash)))).toEqual(verified(touched));
    expect(calls).toEqual([touched.keyHash, bystander.keyHash, touched.keyHash]);
  });

  it("clears every cached key on a workspace update, so a suspended workspace's key says so", async () => {
    const acme = makeWorkspace("acme");
    await seed(store, { workspaces: [acme, makeWorkspace("other")] });
    const key = await insert({ workspace: "acme" });
    const unrelated = await insert({ workspace: "other" });
    const absent = makeKey().key.keyHash;
    const { load } = countingLoad();
    const cache = newCache(load);
    const managed = cachedKeyStore(store, cache);
    expect((await loaded(cache.resolve(digestOfHash(key.keyHash))))?.terms.workspaceSuspended).toBe(false);
    await loaded(cache.resolve(digestOfHash(unrelated.keyHash)));
    await loaded(cache.resolve(digestOfHash(absent)));
    expect(cache.size).toEqual({ keys: 2, missing: 1 });

    unwrap(
      await managed.transaction(async (tx) => {
        await tx.updateWorkspace({ ...acme, status: "suspended", suspendTime: t, updateTime: t });
        return ok(undefined);
      }),
    );

    expect(cache.size).toEqual({ keys: 0, missing: 0 });
    const reloaded = await loaded(cache.resolve(digestOfHash(key.keyHash)));
    expect(reloaded?.terms.workspaceSuspended).toBe(true);
    expect(reloaded?.keyId).toBe(key.keyId);
    expect((await loaded(cache.resolve(digestOfHash(unrelated.keyHash))))?.terms.workspaceSuspended).toBe(
      false,
    );
  });

  it("denies a cached key as soon as SuspendWorkspace returns, and allows it once resumed", async () => {
    await seed(store, { workspaces: [makeWorkspace("acme")] });
    const { key, secret } = makeKey({ workspace: "acme" });
    await seed(store, { keys: [key] });
    const cache = newCache(countingLoad().load);
    const managed = cachedKeyStore(store, cache);
    const root: Admin = { keyId: "key_root", workspace: "keyward", global: true };
    const reasonNow = async () =>
      (
        await authorize(
          {
            credential: secret,
            requiredScopes: [],
            className: "",
            workspace: "",
            clientIp: undefined,
            cost: 1,
            dryRun: false,
          },
          cache,
          t,
        )
      ).reason;
    expect(await reasonNow()).toBe("allowed");
    expect(await reasonNow()).toBe("allowed"); // now from the cache

    unwrap(await suspendWorkspace(managed, root, TEST_CALLER, "acme", "unpaid", t));
    expect(await reasonNow()).toBe("workspace_suspended");

    unwrap(await resumeWorkspace(managed, root, TEST_CALLER, "acme", t));
    expect(await reasonNow()).toBe("allowed");
  });
});
