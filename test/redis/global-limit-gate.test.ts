import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { systemClock } from "../../src/domain/clock.js";
import { type GlobalLimitGate, globalLimitGate } from "../../src/domain/global-limit-gate.js";
import { createLimitBook, type LimitBook } from "../../src/domain/limit-book.js";
import type { EnforcedLimits, LimitDecision } from "../../src/domain/limit-decision.js";
import { bookGate } from "../../src/domain/limit-gate.js";
import type { MaybePromise } from "../../src/domain/maybe-promise.js";
import { createLogger } from "../../src/log.js";
import { openRedisRateWindows, type RedisRateWindows } from "../../src/store/redis-rate-windows.js";
import { redisReachable, TEST_REDIS_URL, testRedisPrefix } from "../support/redis-server.js";

// The gate a replica decides with when Redis holds the rate windows (domain/global-limit-gate.ts), over
// a real book and the real Redis server: a key's limit holds across replicas, a key far below its limit
// is answered from its reservation, and without Redis each replica enforces its share.

const reachable = await redisReachable();
const log = createLogger("error", () => undefined);
const noUsage = async () => ({
  day: 0,
  requestsToday: 0,
  requestsThisMonth: 0,
  deniedThisMonth: 0,
  quotaUsedThisMonth: 0,
  lastUsedTime: undefined,
  credits: undefined,
});
const noFlush = { flushed: async () => undefined, started: () => 0 };

interface Replica {
  readonly book: LimitBook;
  readonly gate: GlobalLimitGate;
  readonly windows: RedisRateWindows;
}

async function replica(url: string, prefix: string, replicas = 2): Promise<Replica> {
  const book = createLimitBook({ maxKeys: 1000 });
  const windows = await openRedisRateWindows(url, { log, prefix });
  const gate = globalLimitGate(bookGate(book, systemClock, noUsage, noFlush), {
    windows,
    clock: systemClock,
    replicas,
    countDenied: (keyId, limits) => book.countDenied(keyId, limits, Date.now()),
    take: (keyId, limits, units) => book.take(keyId, limits, units, Date.now()),
  });
  return { book, gate, windows };
}

const decide = async (gate: GlobalLimitGate, keyId: string, limits: EnforcedLimits): Promise<LimitDecision> =>
  await (gate.consume(keyId, limits, 1, false) as MaybePromise<LimitDecision>);

const opened: Replica[] = [];
afterEach(async () => {
  for (const r of opened.splice(0)) {
    await r.gate.close();
    await r.windows.close();
  }
});

describe.skipIf(!reachable)("rate limits shared through Redis", () => {
  const space = testRedisPrefix();
  let a: Replica;
  let b: Replica;
  beforeAll(async () => {
    a = await replica(TEST_REDIS_URL, space.prefix);
    b = await replica(TEST_REDIS_URL, space.prefix);
  });
  afterAll(async () => {
    for (const r of [a, b]) {
      await r?.gate.close();
      await r?.windows.close();
    }
    await space.drop();
  });

  it("holds a free-tier limit (10 a minute) for the key across two replicas: 10 allowed in total", async () => {
    const limits: EnforcedLimits = { rateLimit: { limit: 10, windowMs: 60_000 }, monthlyQuota: 0 };
    const answers = [];
    for (let i = 0; i < 30; i++)
      answers.push(await decide(i % 2 === 0 ? a.gate : b.gate, "key_free", limits));
    expect(answers.filter((d) => d.reason === "allowed")).toHaveLength(10);
    const denied = answers.filter((d) => d.reason === "rate_limited");
    expect(denied).toHaveLength(20);
    expect(denied[0]?.retryAfterMs).toBeGreaterThan(0);
    expect(denied[0]?.rateLimit).toMatchObject({ limit: 10, remaining: 0 });
    // Denials are counted in the key's usage on the replica that refused them.
    const deniedCounts = [a, b].map((r) => r.book.usage("key_free", Date.now())?.deniedThisMonth ?? 0);
    expect((deniedCounts[0] ?? 0) + (deniedCounts[1] ?? 0)).toBe(20);
    const requests = [a, b].map((r) => r.book.usage("key_free", Date.now())?.requestsToday ?? 0);
    expect((requests[0] ?? 0) + (requests[1] ?? 0)).toBe(10);
  });

  it("answers a key far below its limit from its reservation, without asking Redis again", async () => {
    const limits: EnforcedLimits = { rateLimit: { limit: 4000, windowMs: 60_000 }, monthlyQuota: 0 };
    const first = await decide(a.gate, "key_busy", limits);
    expect(first.reason).toBe("allowed");
    const inRedis = async () =>
      (
        await a.windows.consume(
          "key_busy",
          limits.rateLimit as { limit: number; windowMs: number },
          1,
          true,
          0,
        )
      ).remaining;
    const before = await inRedis();
    // 1 counted + a reservation of (4000 − 1) ÷ (4 × 2 replicas) units; a dry run reports room after 1 more.
    expect(before).toBe(4000 - 1 - Math.floor(3999 / 8) - 1);
    for (let i = 0; i < 50; i++) {
      const decided = a.gate.consume("key_busy", limits, 1, false);
      expect(decided).not.toBeInstanceOf(Promise); // synchronous: no round trip
      expect((decided as LimitDecision).reason).toBe("allowed");
    }
    expect(await inRedis()).toBe(before);
    // Its unspent units go back when the replica stops.
    await a.gate.close();
    await a.windows.close();
    a = await replica(TEST_REDIS_URL, space.prefix);
    expect(await inRedis()).toBe(4000 - 51 - 1);
  });

  it("leases a worker a slice of the reservation (and of the quota); unspent units go back where they came from", async () => {
    const limits: EnforcedLimits = { rateLimit: { limit: 4000, windowMs: 60_000 }, monthlyQuota: 100_000 };
    const rate = limits.rateLimit as { limit: number; windowMs: number };
    const inRedis = async () => (await a.windows.consume("key_lease", rate, 1, true, 0)).remaining;
    const leased = await a.gate.consumeLeasing("key_lease", limits, 1, 2);
    expect(leased.decision.reason).toBe("allowed");
    // The reservation, (4000 − 1) ÷ 8 units, goes to the worker whole: its share is as large.
    const lease = leased.lease;
    expect(lease?.units).toBe(Math.floor(3999 / 8));
    expect(lease?.expiresAt).toBeGreaterThan(Date.now());
    expect(await inRedis()).toBe(4000 - 1 - (lease?.units ?? 0) - 1);
    const units = lease?.units ?? 0;
    // 400 unspent come back to the reservation while it lasts (Redis still counts them), and to the quota.
    a.gate.release("key_lease", limits, 400, lease?.grantedAt ?? 0);
    expect(await inRedis()).toBe(4000 - 1 - units - 1);
    const next = a.gate.consume("key_lease", limits, 1, false);
    expect(next).not.toBeInstanceOf(Promise); // spent from the reservation's 400
    expect((next as LimitDecision).quota?.remaining).toBe(100_000 - 1 - units + 400 - 1);
    await a.gate.close(); // releases the reservation's 399 to Redis
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await inRedis()).toBe(4000 - (1 + units - 399) - 1);
    await a.windows.close();
    a = await replica(TEST_REDIS_URL, space.prefix);
  });

  it("sends a lease's unspent units to Redis once its reservation is gone", async () => {
    const limits: EnforcedLimits = { rateLimit: { limit: 4000, windowMs: 60_000 }, monthlyQuota: 0 };
    const rate = limits.rateLimit as { limit: number; windowMs: number };
    const inRedis = async () => (await a.windows.consume("key_gone", rate, 1, true, 0)).remaining;
    const { lease } = await b.gate.consumeLeasing("key_gone", limits, 1, 2);
    expect(lease?.units).toBeGreaterThan(0);
    // A request of cost 5 finds the reservation empty (the worker holds it all): a new one replaces it.
    expect(((await b.gate.consume("key_gone", limits, 5, false)) as LimitDecision).reason).toBe("allowed");
    const before = await inRedis();
    b.gate.release("key_gone", limits, lease?.units ?? 0, lease?.grantedAt ?? 0);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await inRedis()).toBe(before + (lease?.units ?? 0));
  });

  it("lets the local quota refuse after the shared rate window allowed, reporting both", async () => {
    const limits: EnforcedLimits = { rateLimit: { limit: 100, windowMs: 60_000 }, monthlyQuota: 3 };
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(await decide(a.gate, "key_quota", limits));
    expect(answers.map((d) => d.reason)).toEqual(["allowed", "allowed", "allowed", "quota_exceeded"]);
    expect(answers[3]?.quota).toMatchObject({ limit: 3, remaining: 0 });
    expect(answers[3]?.rateLimit?.limit).toBe(100);
  });

  it("asks Redis on a dry run and counts nothing", async () => {
    const limits: EnforcedLimits = { rateLimit: { limit: 2, windowMs: 60_000 }, monthlyQuota: 0 };
    for (let i = 0; i < 3; i++)
      expect((await (a.gate.consume("key_dry", limits, 1, true) as Promise<LimitDecision>)).reason).toBe(
        "allowed",
      );
    expect((await decide(b.gate, "key_dry", limits)).rateLimit?.remaining).toBe(1);
  });
});

describe("rate limits when Redis cannot be reached", () => {
  it("enforces limit ÷ KEYWARD_REPLICAS on each replica's own book, and says it is local", async () => {
    const r = await replica("redis://127.0.0.1:1", "unused:", 2);
    opened.push(r);
    expect(r.gate.local()).toBe(true);
    const limits: EnforcedLimits = { rateLimit: { limit: 10, windowMs: 60_000 }, monthlyQuota: 0 };
    const answers = [];
    for (let i = 0; i < 8; i++) answers.push(await decide(r.gate, "key_alone", limits));
    expect(answers.filter((d) => d.reason === "allowed")).toHaveLength(5);
    expect(answers[7]?.rateLimit?.limit).toBe(5);
  });

  it("gives each replica at least 1 per window when the limit is below the replica count", async () => {
    const r = await replica("redis://127.0.0.1:1", "unused:", 3);
    opened.push(r);
    const limits: EnforcedLimits = { rateLimit: { limit: 2, windowMs: 60_000 }, monthlyQuota: 0 };
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push(await decide(r.gate, "key_small", limits));
    expect(answers.map((d) => d.reason)).toEqual(["allowed", "rate_limited", "rate_limited"]);
  });
});
