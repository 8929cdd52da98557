import { sql } from "kysely";
import { describe, expect, it } from "vitest";
import { type AuditEvent, auditEvent } from "../../src/domain/audit.js";
import type { ApiKey } from "../../src/domain/key.js";
import type { AuditQuery, Cursor, KeyQuery, KeyStore } from "../../src/domain/key-store.js";
import { ok } from "../../src/domain/outcome.js";
import { emptyDelta } from "../../src/domain/usage-delta.js";
import { openDatabase } from "../../src/store/database.js";
import { createKyselyKeyStore } from "../../src/store/kysely-key-store.js";
import { addUsage, lastUsedUpdate, readUsage } from "../../src/store/usage-queries.js";
import { perTestDatabase, TEST_DIALECT } from "../support/databases.js";
import { FIXTURE_NOW, makeKey, makeWorkspace, seed, TEST_CALLER, unwrap } from "../support/fixtures.js";

// The listing and counting reads (usage included), against a real database per test (an SQLite
// file, or a PostgreSQL schema).
const database = perTestDatabase();

async function newStore(): Promise<KeyStore> {
  const { db, queryOnly } = await database.open();
  return createKyselyKeyStore(db, queryOnly);
}

const T = FIXTURE_NOW;

function keyQuery(overrides: Partial<KeyQuery> = {}): KeyQuery {
  return {
    workspace: "default",
    status: undefined,
    environment: undefined,
    namePrefix: "",
    ownerId: "",
    after: undefined,
    limit: 100,
    ...overrides,
  };
}

const ids = (keys: readonly ApiKey[]) => keys.map((key) => key.keyId);

describe("countActiveKeys", () => {
  it("counts active and suspended keys, not revoked or expired ones, of one workspace", async () => {
    const store = await newStore();
    await seed(store, {
      keys: [
        makeKey().key,
        makeKey({ status: "suspended" }).key,
        makeKey({ expireTime: T + 1001 }).key, // expires a millisecond after the count
        makeKey({ status: "revoked", revokeTime: T }).key,
        makeKey({ expireTime: T + 1000 }).key, // expired exactly at the count, as authorize() decides
        makeKey({ expireTime: T + 10 }).key,
        makeKey({ workspace: "acme" }).key,
      ],
    });

    expect(await store.countActiveKeys("default", T + 1000)).toBe(3);
    expect(await store.countActiveKeys("default", T)).toBe(5);
    expect(await store.countActiveKeys("acme", T)).toBe(1);
    expect(await store.countActiveKeys("empty", T)).toBe(0);
  });
});

describe("listKeys", () => {
  // Created in this order; two share a creation time, so their key_ids decide.
  const keys = {
    oldest: makeKey({ keyId: "key_1", now: T + 1, name: "alpha one", ownerId: "u1" }).key,
    tieLow: makeKey({ keyId: "key_2", now: T + 2, name: "50 percent", ownerId: "u1" }).key,
    tieHigh: makeKey({ keyId: "key_3", now: T + 2, name: "5000x", ownerId: "u2" }).key,
    suspended: makeKey({
      keyId: "key_4",
      now: T + 3,
      name: "50%_off deal",
      environment: "test",
      ownerId: "u2",
      status: "suspended",
    }).key,
    revoked: makeKey({ keyId: "key_5", now: T + 4, name: "50a_b", status: "revoked", revokeTime: T + 5 }).key,
    elsewhere: makeKey({ keyId: "key_6", now: T + 5, workspace: "acme", name: "alpha two" }).key,
  };
  const newestFirst = ["key_5", "key_4", "key_3", "key_2", "key_1"];

  async function seeded(): Promise<KeyStore> {
    const store = await newStore();
    // Inserted out of order, so that only the ORDER BY can put them in order.
    await seed(store, {
      keys: [keys.tieLow, keys.revoked, keys.oldest, keys.elsewhere, keys.suspended, keys.tieHigh],
    });
    return store;
  }

  it("lists a workspace's keys newest first, ties broken by key_id descending", async () => {
    const store = await seeded();
    const { keys: listed, total } = await store.listKeys(keyQuery());
    expect(ids(listed)).toEqual(newestFirst);
    expect(total).toBe(5);
    expect(listed[1]).toEqual(keys.suspended);
  });

  it.each<[string, Partial<KeyQuery>, string[]]>([
    ["status active", { status: "active" }, ["key_3", "key_2", "key_1"]],
    ["status suspended", { status: "suspended" }, ["key_4"]],
    ["status revoked", { status: "revoked" }, ["key_5"]],
    ["environment test", { environment: "test" }, ["key_4"]],
    ["environment live", { environment: "live" }, ["key_5", "key_3", "key_2", "key_1"]],
    ["owner u2", { ownerId: "u2" }, ["key_4", "key_3"]],
    ["owner nobody", { ownerId: "nobody" }, []],
    ["name prefix", { namePrefix: "alpha" }, ["key_1"]],
    ["name prefix 50", { namePrefix: "50" }, ["key_5", "key_4", "key_3", "key_2"]],
    ["a whole name", { namePrefix: "50 percent" }, ["key_2"]],
    ["a prefix longer than every name", { namePrefix: "50 percent and more" }, []],
    ["filters combined", { status: "active", ownerId: "u1", namePrefix: "50" }, ["key_2"]],
  ])("filters by %s, and counts only what matches", async (_, filter, expected) => {
    const store = await seeded();
    const { keys: listed, total } = await store.listKeys(keyQuery(filter));
    expect(ids(listed)).toEqual(expected);
    expect(total).toBe(expected.length);
  });

  it.each<[string, string[]]>([
    ["50%", ["key_4"]],
    ["50%_", ["key_4"]],
    ["50_", []],
    ["5_", []],
    ["%", []],
    ["_", []],
    ["50a_", ["key_5"]],
  ])("matches a name prefix with LIKE wildcards literally: %j", async (namePrefix, expected) => {
    const store = await seeded();
    expect(ids((await store.listKeys(keyQuery({ namePrefix }))).keys)).toEqual(expected);
  });

  // Bug: key-queries.ts compares substr(name, 1, namePrefix.length); SQL counts characters,
  // JavaScript's length counts UTF-16 units, so a prefix with a character outside the BMP
  // (names may hold emoji) is compared against too long a slice and never matches.
  it("matches a name prefix holding a character outside the BMP", async () => {
    const store = await newStore();
    const key = makeKey({ name: "🔑 production" }).key;
    await seed(store, { keys: [key, makeKey({ name: "other" }).key] });
    expect(ids((await store.listKeys(keyQuery({ namePrefix: "🔑" }))).keys)).toEqual([key.keyId]);
    expect(ids((await store.listKeys(keyQuery({ namePrefix: "🔑 prod" }))).keys)).toEqual([key.keyId]);
  });

  it("pages with a cursor after the last key, across a tie, without gaps or repeats", async () => {
    const store = await seeded();
    const pages: string[][] = [];
    let after: Cursor | undefined;
    for (;;) {
      const { keys: page, total } = await store.listKeys(keyQuery({ after, limit: 2 }));
      // The total counts every match, whatever the page.
      expect(total).toBe(5);
      if (page.length === 0) break;
      pages.push(ids(page));
      const last = page.at(-1) as ApiKey;
      after = { time: last.createTime, id: last.keyId };
    }
    // The first page ends inside the tie at T+2: key_3 | key_2.
    expect(pages).toEqual([["key_5", "key_4"], ["key_3", "key_2"], ["key_1"]]);
  });

  it("starts a page strictly after the cursor, also between two keys of the same time", async () => {
    const store = await seeded();
    const afterTieHigh = await store.listKeys(keyQuery({ after: { time: T + 2, id: "key_3" }, limit: 10 }));
    expect(ids(afterTieHigh.keys)).toEqual(["key_2", "key_1"]);
    expect(afterTieHigh.total).toBe(5);

    const filtered = await store.listKeys(
      keyQuery({ status: "active", after: { time: T + 2, id: "key_3" } }),
    );
    expect(ids(filtered.keys)).toEqual(["key_2", "key_1"]);
    expect(filtered.total).toBe(3);
  });

  it("lists nothing for an unknown workspace", async () => {
    const store = await seeded();
    expect(await store.listKeys(keyQuery({ workspace: "nobody" }))).toEqual({ keys: [], total: 0 });
  });
});

describe("listAuditEvents", () => {
  function event(time: number, fields: Partial<AuditEvent> = {}): AuditEvent {
    return {
      ...auditEvent(TEST_CALLER, T + time, { workspace: "default", action: "key.issued", targetId: "key_a" }),
      ...fields,
    };
  }

  function auditQuery(overrides: Partial<AuditQuery> = {}): AuditQuery {
    return {
      workspace: "default",
      action: undefined,
      targetId: "",
      startTime: undefined,
      endTime: undefined,
      after: undefined,
      limit: 100,
      ...overrides,
    };
  }

  const events = [
    event(1, { eventId: "evt_1" }),
    event(2, { eventId: "evt_2", action: "key.revoked", reason: "leaked" }),
    event(2, { eventId: "evt_3", targetId: "key_b" }),
    event(3, { eventId: "evt_4", action: "key.updated", changedFields: ["name"] }),
    event(4, { eventId: "evt_5", action: "workspace.suspended", targetId: "default" }),
    event(5, { eventId: "evt_6", workspace: "acme" }),
  ];

  async function seeded(): Promise<KeyStore> {
    const store = await newStore();
    unwrap(
      await store.transaction(async (tx) => {
        for (const e of [...events].reverse()) await tx.recordEvent(e);
        return ok(undefined);
      }),
    );
    return store;
  }

  const eventIds = (list: readonly AuditEvent[]) => list.map((e) => e.eventId);

  it("lists a workspace's events newest first, ties broken by event_id descending", async () => {
    const store = await seeded();
    const listed = await store.listAuditEvents(auditQuery());
    expect(eventIds(listed)).toEqual(["evt_5", "evt_4", "evt_3", "evt_2", "evt_1"]);
    expect(listed[1]).toEqual(events[3]);
  });

  it.each<[string, Partial<AuditQuery>, string[]]>([
    ["action", { action: "key.revoked" }, ["evt_2"]],
    ["an action no event has", { action: "key.rotated" }, []],
    ["target", { targetId: "key_b" }, ["evt_3"]],
    ["target and action", { targetId: "key_a", action: "key.issued" }, ["evt_1"]],
    ["inclusive start", { startTime: T + 2 }, ["evt_5", "evt_4", "evt_3", "evt_2"]],
    ["exclusive end", { endTime: T + 3 }, ["evt_3", "evt_2", "evt_1"]],
    ["range", { startTime: T + 2, endTime: T + 4 }, ["evt_4", "evt_3", "evt_2"]],
    ["an empty range", { startTime: T + 3, endTime: T + 3 }, []],
    ["another workspace", { workspace: "acme" }, ["evt_6"]],
  ])("filters by %s", async (_, filter, expected) => {
    const store = await seeded();
    expect(eventIds(await store.listAuditEvents(auditQuery(filter)))).toEqual(expected);
  });

  it("pages with a cursor after the last event and a limit", async () => {
    const store = await seeded();
    const first = await store.listAuditEvents(auditQuery({ limit: 2 }));
    expect(eventIds(first)).toEqual(["evt_5", "evt_4"]);
    const second = await store.listAuditEvents(auditQuery({ limit: 2, after: { time: T + 3, id: "evt_4" } }));
    expect(eventIds(second)).toEqual(["evt_3", "evt_2"]);
    // Inside the tie at T+2.
    const third = await store.listAuditEvents(auditQuery({ limit: 2, after: { time: T + 2, id: "evt_3" } }));
    expect(eventIds(third)).toEqual(["evt_2", "evt_1"]);
  });
});

describe("listWorkspaces", () => {
  it("lists workspaces in id order, after a given id, with the total of all", async () => {
    const store = await newStore();
    const names = ["delta", "alpha", "charlie", "bravo", "echo"];
    await seed(store, { workspaces: names.map((name, i) => makeWorkspace(name, { now: T + i })) });
    const page = async (after: string | undefined, limit: number) => {
      const { workspaces, total } = await store.listWorkspaces(after, limit);
      return { ids: workspaces.map((w) => w.workspaceId), total };
    };

    expect(await page(undefined, 10)).toEqual({
      ids: ["alpha", "bravo", "charlie", "delta", "echo"],
      total: 5,
    });
    expect(await page(undefined, 2)).toEqual({ ids: ["alpha", "bravo"], total: 5 });
    expect(await page("bravo", 2)).toEqual({ ids: ["charlie", "delta"], total: 5 });
    expect(await page("delta", 2)).toEqual({ ids: ["echo"], total: 5 });
    expect(await page("echo", 2)).toEqual({ ids: [], total: 5 });
    // An id that is not stored still positions the page.
    expect(await page("c", 10)).toEqual({ ids: ["charlie", "delta", "echo"], total: 5 });
    expect((await store.listWorkspaces(undefined, 1)).workspaces).toEqual([
      makeWorkspace("alpha", { now: T + 1 }),
    ]);
  });
});

describe("the usage flush's statements", () => {
  it.skipIf(TEST_DIALECT !== "sqlite")(
    "look each key up by its id on SQLite, never scan api_keys (a million rows in bench scenario 3)",
    async () => {
      const { db } = await database.open();
      const times = Array.from({ length: 500 }, (_, i) => [`key_${i}`, T + i] as const);
      const plan = await sql<{ detail: string }>`explain query plan ${lastUsedUpdate(db, times)}`.execute(db);
      const details = plan.rows.map((row) => row.detail);
      expect(details.some((detail) => /SEARCH api_keys USING (INDEX|PRIMARY KEY)/.test(detail))).toBe(true);
      expect(details.some((detail) => /SCAN api_keys/.test(detail))).toBe(false);
    },
  );
});

describe("usageOf", () => {
  const DAY = 86_400_000;
  const today = Date.UTC(2025, 0, 15); // the day of FIXTURE_NOW

  it("sums today and this month's days for each key asked, in one read; keys never used are absent", async () => {
    const { db, queryOnly } = await database.open();
    const store = createKyselyKeyStore(db, queryOnly);
    const used = makeKey({ keyId: "key_used" }).key;
    const idle = makeKey({ keyId: "key_idle" }).key;
    await seed(store, { keys: [used, idle] });
    const delta = (day: number, requests: number, denied: number) => ({
      ...emptyDelta(used.keyId, day),
      requests,
      denied,
    });
    await addUsage(db, [
      { ...delta(today, 5, 1), lastUsedTime: T },
      delta(today, 2, 0), // a second writer's count for the same day adds up
      delta(Date.UTC(2025, 0, 1), 10, 2), // earlier this month
      delta(Date.UTC(2024, 11, 31), 100, 50), // last month: not shown
    ]);

    const usage = await store.usageOf([used.keyId, idle.keyId, "key_unknown"], T);
    expect([...usage]).toEqual([
      [used.keyId, { requestsToday: 7, requestsThisMonth: 17, deniedThisMonth: 3 }],
    ]);
    expect((await store.findKeyById(used.keyId))?.lastUsedTime).toBe(T);
    // The next day: today's counts belong to the month only.
    expect((await store.usageOf([used.keyId], T + DAY)).get(used.keyId)).toEqual({
      requestsToday: 0,
      requestsThisMonth: 17,
      deniedThisMonth: 3,
    });
    expect(await store.usageOf([], T)).toEqual(new Map());
  });

  it("adds a refund (a lease's unspent units given back) as negative quota cost and credits spent", async () => {
    const { db, queryOnly } = await database.open();
    const store = createKyselyKeyStore(db, queryOnly);
    const key = makeKey({ keyId: "key_leased", credits: { remaining: 100, refill: undefined } }).key;
    await seed(store, { keys: [key] });
    // Spending is applied to the setting of the balance it was made from.
    const setTime = key.credits?.setTime === undefined ? {} : { creditsSetTime: key.credits.setTime };
    await addUsage(db, [
      { ...emptyDelta(key.keyId, today), requests: 3, quotaCost: 40, creditsSpent: 40, ...setTime },
    ]);
    // The next flush: 37 of the 40 were a lease that came back unspent, on the next day.
    await addUsage(db, [
      { ...emptyDelta(key.keyId, today + DAY), quotaCost: -37, creditsSpent: -37, ...setTime },
    ]);
    expect(await readUsage(db, key.keyId, T + DAY)).toMatchObject({
      requestsThisMonth: 3,
      quotaUsedThisMonth: 3,
      creditsRemaining: 97,
    });
  });

  it("writes a flush of thousands of keys in chunks, turning the event loop between them, and never moves a last-used time back", async () => {
    const { db, queryOnly } = await database.open();
    const store = createKyselyKeyStore(db, queryOnly);
    const keys = Array.from({ length: 1_203 }, (_, i) => makeKey({ keyId: `key_${i}` }).key);
    await seed(store, { keys });
    const flush = keys.map((key, i) => ({
      ...emptyDelta(key.keyId, today),
      requests: i + 1,
      lastUsedTime: T,
    }));
    // Decisions go on during a large flush: the event loop turns between its statements (on SQLite each
    // runs synchronously; without the turns a timer or socket would wait for the whole flush).
    let turns = 0;
    let flushing = true;
    const turn = () => {
      if (!flushing) return;
      turns++;
      setImmediate(turn);
    };
    setImmediate(turn);
    await addUsage(db, flush).finally(() => {
      flushing = false;
    });
    expect(turns).toBeGreaterThanOrEqual(20); // 1,203 keys: 13 chunks of day rows, 13 of last-used times
    // Another writer's older time for key_0, and a later one for key_1: only the later one moves.
    await addUsage(db, [
      { ...emptyDelta("key_0", today), requests: 1, lastUsedTime: T - 1000 },
      { ...emptyDelta("key_1", today), requests: 1, lastUsedTime: T + 1000 },
    ]);
    const usage = await store.usageOf(
      keys.map((key) => key.keyId),
      T,
    );
    expect(usage.size).toBe(1_203);
    expect(usage.get("key_1202")?.requestsToday).toBe(1_203);
    expect(usage.get("key_0")?.requestsToday).toBe(2);
    expect((await store.findKeyById("key_0"))?.lastUsedTime).toBe(T);
    expect((await store.findKeyById("key_1"))?.lastUsedTime).toBe(T + 1000);
    expect((await store.findKeyById("key_1202"))?.lastUsedTime).toBe(T);
  });

  // PostgreSQL only: better-sqlite3 waits for a lock synchronously, so several SQLite connections in
  // one process would block the very event loop the holder needs (SQLite's writers are processes:
  // test/process/usage-durability.test.ts).
  it.skipIf(TEST_DIALECT !== "postgres")(
    "adds up exactly the counts of several writers flushing the same key at once",
    async () => {
      const { db, queryOnly } = await database.open();
      const store = createKyselyKeyStore(db, queryOnly);
      const key = makeKey({ keyId: "key_shared", credits: { remaining: 1_000, refill: undefined } }).key;
      await seed(store, { keys: [key] });
      const setTime = key.credits?.setTime === undefined ? {} : { creditsSetTime: key.credits.setTime };
      // Each writer a pool of its own, as a replica has.
      const writers = [
        db,
        ...(await Promise.all(
          [1, 2, 3].map(async () => database.track(await openDatabase(database.temp.url)).db),
        )),
      ];

      await Promise.all(
        writers.map(async (writer) => {
          for (let flush = 0; flush < 10; flush++) {
            await addUsage(writer, [
              { ...emptyDelta(key.keyId, today), requests: 1, quotaCost: 2, creditsSpent: 3, ...setTime },
            ]);
          }
        }),
      );

      expect(await readUsage(db, key.keyId, T)).toMatchObject({
        requestsToday: 40,
        quotaUsedThisMonth: 80,
        creditsRemaining: 1_000 - 120,
      });
    },
  );

  it.skipIf(TEST_DIALECT !== "postgres")(
    "never deadlocks two replicas flushing the same keys in opposite orders; their counts add up",
    async () => {
      const { db, queryOnly } = await database.open();
      const store = createKyselyKeyStore(db, queryOnly);
      const credits = { remaining: 100_000, refill: undefined };
      const keys = Array.from({ length: 200 }, (_, i) => makeKey({ keyId: `key_${i}`, credits }).key);
      await seed(store, { keys });
      const other = database.track(await openDatabase(database.temp.url)).db;
      const flushOf = (order: readonly ApiKey[]) =>
        order.map((key) => ({
          ...emptyDelta(key.keyId, today),
          requests: 1,
          lastUsedTime: T,
          creditsSpent: 1,
          ...(key.credits?.setTime === undefined ? {} : { creditsSetTime: key.credits.setTime }),
        }));
      const forward = flushOf(keys);
      const backward = flushOf([...keys].reverse());
      for (let round = 0; round < 15; round++) {
        await Promise.all([addUsage(db, forward), addUsage(other, backward)]);
      }
      const usage = await readUsage(db, "key_7", T);
      expect(usage).toMatchObject({ requestsToday: 30, creditsRemaining: 100_000 - 30 });
    },
  );

  it.skipIf(TEST_DIALECT !== "postgres")(
    "on PostgreSQL, keeps a flush's spending that comes while an UpdateKey holds the key: the flush waits for it",
    async () => {
      const { db, queryOnly } = await database.open();
      const store = createKyselyKeyStore(db, queryOnly);
      const key = makeKey({ keyId: "key_busy", credits: { remaining: 100, refill: undefined } }).key;
      await seed(store, { keys: [key] });
      const setTime = key.credits?.setTime === undefined ? {} : { creditsSetTime: key.credits.setTime };
      let flush: Promise<void> | undefined;

      unwrap(
        await store.transaction(async (tx) => {
          const read = await tx.findKeyById(key.keyId);
          flush = addUsage(db, [{ ...emptyDelta(key.keyId, today), creditsSpent: 5, ...setTime }]);
          // Until the flush waits on the key's lock (or, were the key not locked, has committed).
          const settled = flush.then(() => true);
          for (let i = 0; i < 200 && !(await Promise.race([settled, Promise.resolve(false)])); i++) {
            const waiting = await sql<{ n: number }>`
              select count(*) as n from pg_stat_activity
              where wait_event_type = 'Lock' and query like '%credits_remaining - %'`.execute(db);
            if ((waiting.rows[0]?.n ?? 0) > 0) break;
            await new Promise((resolve) => setTimeout(resolve, 10));
          }
          await tx.updateKey({ ...(read as ApiKey), name: "renamed" });
          return ok(undefined);
        }),
      );
      await flush;

      const after = await store.findKeyById(key.keyId);
      expect(after?.name).toBe("renamed");
      expect(after?.credits?.remaining).toBe(95);
    },
  );
});
