import { expect, it } from "vitest";
import { NO_LIMITS } from "../../src/domain/key-limits.js";
import { createLimitBook } from "../../src/domain/limit-book.js";
import type { EnforcedLimits } from "../../src/domain/limit-decision.js";
import { bookGate, enforcedLimits, type FlushProgress } from "../../src/domain/limit-gate.js";
import { DEFAULT_TIERS } from "../../src/domain/tiers.js";
import type { PersistedUsage } from "../../src/domain/usage-delta.js";

const NOW = Date.UTC(2026, 2, 14, 12);
const clock = { now: () => NOW };
const QUOTA: EnforcedLimits = { monthlyQuota: 10 };
const stored = (quotaUsed: number): PersistedUsage => ({
  day: NOW,
  requestsToday: quotaUsed,
  requestsThisMonth: quotaUsed,
  deniedThisMonth: 0,
  quotaUsedThisMonth: quotaUsed,
});

it("reads a key with a quota once, shared by the requests waiting for it, then answers from memory", async () => {
  let reads = 0;
  const flush: FlushProgress = { flushed: async () => {}, started: () => 0 };
  const gate = bookGate(
    createLimitBook({ maxKeys: 10 }),
    clock,
    async () => {
      reads++;
      return stored(7);
    },
    flush,
  );
  const [a, b] = await Promise.all([gate.consume("k", QUOTA, 1, false), gate.consume("k", QUOTA, 1, false)]);
  expect([a.quota?.remaining, b.quota?.remaining]).toEqual([2, 1]);
  const c = gate.consume("k", QUOTA, 1, false);
  expect(c).not.toBeInstanceOf(Promise); // loaded: synchronous
  expect(reads).toBe(1);
});

it("reads again when a flush started during the read, which may have missed what it drained", async () => {
  let started = 0;
  const flush: FlushProgress = { flushed: async () => {}, started: () => started };
  const answers = [stored(3), stored(5)]; // the second read sees what the overlapping flush wrote
  const gate = bookGate(
    createLimitBook({ maxKeys: 10 }),
    clock,
    async () => {
      const answer = answers.shift() as PersistedUsage;
      if (answers.length === 1) started++; // a flush starts while the first read runs
      return answer;
    },
    flush,
  );
  const decision = await gate.consume("k", QUOTA, 1, false);
  expect(decision.quota?.remaining).toBe(4); // 10 − 5 − 1
  expect(answers).toEqual([]);
});

it("fails as a store outage when the read fails, and reads again on the next request", async () => {
  let fail = true;
  const flush: FlushProgress = { flushed: async () => {}, started: () => 0 };
  const gate = bookGate(
    createLimitBook({ maxKeys: 10 }),
    clock,
    async () => {
      if (fail) throw new Error("disk I/O error");
      return stored(0);
    },
    flush,
  );
  await expect(gate.consume("k", QUOTA, 1, false)).rejects.toMatchObject({
    name: "StoreError",
    kind: "store",
  });
  fail = false;
  expect((await gate.consume("k", QUOTA, 1, false)).quota?.remaining).toBe(9);
});

it("never reads for a key with only a rate limit", () => {
  const flush: FlushProgress = { flushed: async () => {}, started: () => 0 };
  const gate = bookGate(
    createLimitBook({ maxKeys: 10 }),
    clock,
    async () => {
      throw new Error("must not read");
    },
    flush,
  );
  const decision = gate.consume(
    "k",
    { rateLimit: { limit: 2, windowMs: 60_000 }, monthlyQuota: 0 },
    1,
    false,
  );
  expect(decision).toMatchObject({ reason: "allowed", rateLimit: { remaining: 1 } });
});

it("gives the same limits object for the same terms, so a counted decision allocates none", () => {
  const terms = { ...NO_LIMITS, tier: "free" };
  const first = enforcedLimits(terms, DEFAULT_TIERS);
  expect(first).toEqual({ rateLimit: DEFAULT_TIERS.get("free"), monthlyQuota: 0, credits: undefined });
  expect(enforcedLimits(terms, DEFAULT_TIERS)).toBe(first);
  // Changed terms are a new object (store/hot-lookup.ts): their limits are worked out anew.
  expect(enforcedLimits({ ...terms, monthlyQuota: 5 }, DEFAULT_TIERS)).toMatchObject({ monthlyQuota: 5 });
  expect(enforcedLimits(NO_LIMITS, DEFAULT_TIERS)).toBeUndefined();
});
