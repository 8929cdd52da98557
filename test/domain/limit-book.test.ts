import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createLimitBook } from "../../src/domain/limit-book.js";
import type { EnforcedLimits } from "../../src/domain/limit-decision.js";
import { bucketWidthMs } from "../../src/domain/rate-limit.js";
import type { PersistedUsage, UsageDelta } from "../../src/domain/usage-delta.js";
import { dayStart, monthStart, periodStart } from "../../src/domain/usage-period.js";

const at = (iso: string) => Date.parse(iso);
const NOW = at("2026-03-15T12:00:00Z");
const MINUTE = 60_000;
const FREE: EnforcedLimits = { rateLimit: { limit: 10, windowMs: MINUTE }, monthlyQuota: 1000 };

describe("createLimitBook", () => {
  it("free tier: a burst of 11 lets 10 through, then rate_limited with a retry and nothing consumed", () => {
    const book = createLimitBook({ maxKeys: 10 });
    for (let i = 0; i < 10; i++) expect(book.consume("k", FREE, 1, NOW).reason).toBe("allowed");
    const denied = book.consume("k", FREE, 1, NOW);
    expect(denied).toMatchObject({
      reason: "rate_limited",
      rateLimit: { limit: 10, remaining: 0 },
    });
    expect(denied.retryAfterMs).toBeGreaterThan(0);
    // Limits after the one that refused are not looked at.
    expect(denied.quota).toBeUndefined();
    expect(book.usage("k", NOW)).toEqual({
      requestsToday: 10,
      requestsThisMonth: 10,
      deniedThisMonth: 1,
      lastUsedTime: NOW,
    });
    expect(book.consume("k", FREE, 1, NOW + (denied.retryAfterMs ?? 0)).reason).toBe("allowed");
  });

  it("reports remaining and reset of rate limit and quota after the request", () => {
    const book = createLimitBook({ maxKeys: 10 });
    const d = book.consume("k", FREE, 3, NOW);
    expect(d).toMatchObject({
      reason: "allowed",
      rateLimit: { limit: 10, remaining: 7 },
      quota: { limit: 1000, remaining: 997, resetTime: at("2026-04-01T00:00:00Z") },
    });
    expect(d.retryAfterMs).toBeUndefined();
  });

  it("quota: counts cost per calendar month, denies past it until the 1st, resets at the boundary", () => {
    const book = createLimitBook({ maxKeys: 10 });
    const limits: EnforcedLimits = { monthlyQuota: 5 };
    expect(book.consume("k", limits, 4, NOW).reason).toBe("allowed");
    const denied = book.consume("k", limits, 2, NOW);
    expect(denied).toMatchObject({ reason: "quota_exceeded", quota: { remaining: 1 } });
    expect(denied.retryAfterMs).toBe(at("2026-04-01T00:00:00Z") - NOW);
    expect(book.consume("k", limits, 1, NOW).reason).toBe("allowed");
    expect(book.consume("k", limits, 1, at("2026-03-31T23:59:59.999Z")).reason).toBe("quota_exceeded");
    expect(book.consume("k", limits, 5, at("2026-04-01T00:00:00Z"))).toMatchObject({
      reason: "allowed",
      quota: { remaining: 0, resetTime: at("2026-05-01T00:00:00Z") },
    });
    expect(book.consume("k", limits, 6, at("2026-05-02T00:00:00Z")).retryAfterMs).toBeUndefined();
  });

  it("a quota of 0 is unlimited", () => {
    const book = createLimitBook({ maxKeys: 10 });
    for (let i = 0; i < 100; i++)
      expect(book.consume("k", { monthlyQuota: 0 }, 7, NOW)).toEqual({ reason: "allowed" });
  });

  it("credits: spend cost, deny when short, refill to the amount at the next boundary", () => {
    const book = createLimitBook({ maxKeys: 10 });
    const limits: EnforcedLimits = {
      monthlyQuota: 0,
      credits: { remaining: 5, refill: { amount: 8, interval: "daily" } },
    };
    expect(book.consume("k", limits, 3, NOW)).toMatchObject({ reason: "allowed", creditsRemaining: 2 });
    const denied = book.consume("k", limits, 3, NOW);
    expect(denied).toMatchObject({ reason: "credits_exhausted", creditsRemaining: 2 });
    expect(denied.retryAfterMs).toBe(at("2026-03-16T00:00:00Z") - NOW);
    expect(book.consume("k", limits, 3, at("2026-03-16T00:00:00Z"))).toMatchObject({ creditsRemaining: 5 });
    // Never refilled: no retry time.
    const once: EnforcedLimits = { monthlyQuota: 0, credits: { remaining: 1 } };
    book.consume("j", once, 1, NOW);
    expect(book.consume("j", once, 1, NOW + 86_400_000 * 40)).toEqual({
      reason: "credits_exhausted",
      creditsRemaining: 0,
    });
  });

  it("checks rate limit, then quota, then credits; a denial consumes from none of them", () => {
    const book = createLimitBook({ maxKeys: 10 });
    const limits: EnforcedLimits = {
      rateLimit: { limit: 2, windowMs: MINUTE },
      monthlyQuota: 3,
      credits: { remaining: 2 },
    };
    expect(book.consume("k", limits, 2, NOW).reason).toBe("allowed"); // rate 0 left, quota 1, credits 0
    expect(book.consume("k", limits, 1, NOW).reason).toBe("rate_limited");
    const later = NOW + 2 * MINUTE;
    // The limits before the refusing one are reported as they stand: the refused request took nothing.
    expect(book.consume("k", limits, 2, later)).toMatchObject({
      reason: "quota_exceeded",
      rateLimit: { remaining: 2 },
    });
    expect(book.consume("k", limits, 1, later)).toMatchObject({
      reason: "credits_exhausted",
      quota: { remaining: 1 },
    });
    // None of the denials above took rate-limit room or quota.
    const free = { ...limits, credits: { remaining: 9 } };
    book.forget("k");
    book.drain(); // flushed: the store now holds what the book counted
    book.load(
      "k",
      { day: NOW, requestsToday: 1, requestsThisMonth: 1, deniedThisMonth: 3, quotaUsedThisMonth: 2 },
      free,
      later,
    );
    expect(book.consume("k", free, 1, later)).toMatchObject({ reason: "allowed", quota: { remaining: 0 } });
  });

  it("a dry run decides the same and consumes and counts nothing", () => {
    const book = createLimitBook({ maxKeys: 10 });
    const limits: EnforcedLimits = {
      rateLimit: { limit: 1, windowMs: MINUTE },
      monthlyQuota: 1,
      credits: { remaining: 1 },
    };
    for (let i = 0; i < 3; i++) expect(book.consume("k", limits, 1, NOW, true).reason).toBe("allowed");
    expect(book.usage("k", NOW)).toEqual({ requestsToday: 0, requestsThisMonth: 0, deniedThisMonth: 0 });
    expect(book.consume("k", limits, 1, NOW).reason).toBe("allowed");
    expect(book.consume("k", limits, 1, NOW, true).reason).toBe("rate_limited");
    expect(book.usage("k", NOW)?.deniedThisMonth).toBe(0);
    expect(book.drain()).toEqual([
      {
        keyId: "k",
        day: at("2026-03-15T00:00:00Z"),
        requests: 1,
        denied: 0,
        quotaCost: 1,
        creditsSpent: 1,
        lastUsedTime: NOW,
      },
    ]);
  });

  it("usage rolls over by UTC day and month; drain returns one delta per key and day, then nothing", () => {
    const book = createLimitBook({ maxKeys: 10 });
    const limits: EnforcedLimits = { monthlyQuota: 0 };
    book.consume("k", limits, 1, at("2026-03-31T23:00:00Z"));
    book.countDenied("k", limits, at("2026-03-31T23:30:00Z"));
    book.consume("k", limits, 1, at("2026-04-01T01:00:00Z"));
    expect(book.usage("k", at("2026-04-01T02:00:00Z"))).toEqual({
      requestsToday: 1,
      requestsThisMonth: 1,
      deniedThisMonth: 0,
      lastUsedTime: at("2026-04-01T01:00:00Z"),
    });
    expect(book.usage("k", at("2026-04-02T02:00:00Z"))?.requestsToday).toBe(0);
    expect(book.drain()).toEqual([
      {
        keyId: "k",
        day: at("2026-03-31T00:00:00Z"),
        requests: 1,
        denied: 1,
        quotaCost: 1,
        creditsSpent: 0,
        lastUsedTime: at("2026-03-31T23:00:00Z"),
      },
      {
        keyId: "k",
        day: at("2026-04-01T00:00:00Z"),
        requests: 1,
        denied: 0,
        quotaCost: 1,
        creditsSpent: 0,
        lastUsedTime: at("2026-04-01T01:00:00Z"),
      },
    ]);
    expect(book.drain()).toEqual([]);
  });

  it("a refill is reported in the delta with what was spent after it", () => {
    const book = createLimitBook({ maxKeys: 10 });
    const limits: EnforcedLimits = {
      monthlyQuota: 0,
      credits: { remaining: 1, refill: { amount: 10, interval: "monthly" } },
    };
    book.consume("k", limits, 1, NOW);
    book.drain();
    book.consume("k", limits, 4, at("2026-04-03T00:00:00Z"));
    expect(book.drain()).toMatchObject([
      { day: at("2026-04-03T00:00:00Z"), creditsRefilledAt: at("2026-04-01T00:00:00Z"), creditsSpent: 4 },
    ]);
  });

  it("load seeds this month's counts from the store and drops last month's", () => {
    const book = createLimitBook({ maxKeys: 10 });
    const stored = {
      day: at("2026-03-14T00:00:00Z"),
      requestsToday: 4,
      requestsThisMonth: 40,
      deniedThisMonth: 2,
      quotaUsedThisMonth: 45,
    };
    expect(book.has("k")).toBe(false);
    book.load("k", stored, { monthlyQuota: 46 }, NOW);
    expect(book.has("k")).toBe(true);
    expect(book.usage("k", NOW)).toEqual({ requestsToday: 0, requestsThisMonth: 40, deniedThisMonth: 2 });
    expect(book.consume("k", { monthlyQuota: 46 }, 2, NOW).reason).toBe("quota_exceeded");
    book.load("j", stored, { monthlyQuota: 46 }, at("2026-04-01T00:00:00Z"));
    expect(book.usage("j", at("2026-04-01T00:00:00Z"))).toEqual({
      requestsToday: 0,
      requestsThisMonth: 0,
      deniedThisMonth: 0,
    });
  });

  it("load adds the deltas not yet drained to what the store says, and they are drained once", () => {
    const book = createLimitBook({ maxKeys: 10 });
    const limits: EnforcedLimits = { monthlyQuota: 5, credits: { remaining: 10 } };
    book.consume("k", limits, 3, NOW);
    book.forget("k");
    const stored = {
      day: NOW,
      requestsToday: 0,
      requestsThisMonth: 0,
      deniedThisMonth: 0,
      quotaUsedThisMonth: 0,
    };
    book.load("k", stored, limits, NOW + 1);
    expect(book.usage("k", NOW + 1)).toMatchObject({
      requestsToday: 1,
      requestsThisMonth: 1,
      lastUsedTime: NOW,
    });
    expect(book.consume("k", limits, 3, NOW + 1)).toMatchObject({
      reason: "quota_exceeded",
      quota: { remaining: 2 },
    });
    expect(book.consume("k", limits, 2, NOW + 1)).toMatchObject({ reason: "allowed", creditsRemaining: 5 });
    expect(book.drain().map((d) => [d.requests, d.denied, d.quotaCost])).toEqual([
      [1, 0, 3],
      [1, 1, 2],
    ]);
  });

  it("load refills credits whose stored period is over", () => {
    const book = createLimitBook({ maxKeys: 10 });
    const limits: EnforcedLimits = {
      monthlyQuota: 0,
      credits: { remaining: 0, refill: { amount: 3, interval: "daily" } },
    };
    const stored = {
      day: NOW,
      requestsToday: 0,
      requestsThisMonth: 0,
      deniedThisMonth: 0,
      quotaUsedThisMonth: 0,
    };
    book.load("k", { ...stored, creditsRefilledAt: at("2026-03-14T00:00:00Z") }, limits, NOW);
    expect(book.consume("k", limits, 1, NOW)).toMatchObject({ reason: "allowed", creditsRemaining: 2 });
    book.load("j", { ...stored, creditsRefilledAt: at("2026-03-15T00:00:00Z") }, limits, NOW);
    expect(book.consume("j", limits, 1, NOW).reason).toBe("credits_exhausted");
  });

  it("evicts the least recently used key past maxKeys and keeps its unflushed deltas", () => {
    const book = createLimitBook({ maxKeys: 2 });
    const limits: EnforcedLimits = { monthlyQuota: 0 };
    book.consume("a", limits, 1, NOW);
    book.consume("b", limits, 1, NOW);
    book.consume("a", limits, 1, NOW);
    book.consume("c", limits, 1, NOW);
    expect([book.has("a"), book.has("b"), book.has("c")]).toEqual([true, false, true]);
    const deltas = book.drain();
    expect(deltas.map((d) => [d.keyId, d.requests]).sort()).toEqual([
      ["a", 2],
      ["b", 1],
      ["c", 1],
    ]);
  });
});

describe("createLimitBook against a reference model", () => {
  const DAY = 86_400_000;
  const limitsArb = fc.record({
    rate: fc.option(
      fc.record({
        limit: fc.integer({ min: 1, max: 8 }),
        windowMs: fc.integer({ min: 1000, max: 7_200_000 }),
      }),
    ),
    monthlyQuota: fc.integer({ min: 0, max: 40 }),
    credits: fc.option(
      fc.record({
        remaining: fc.integer({ min: 0, max: 20 }),
        refill: fc.option(
          fc.record({
            amount: fc.integer({ min: 1, max: 20 }),
            interval: fc.constantFrom("daily", "monthly"),
          }),
        ),
      }),
    ),
  });
  const op = fc.record({
    gap: fc.oneof(fc.integer({ min: 0, max: 5000 }), fc.integer({ min: 0, max: 3 * DAY })),
    cost: fc.integer({ min: 1, max: 4 }),
    dryRun: fc.boolean(),
    drain: fc.boolean(),
    reload: fc.nat({ max: 7 }),
  });

  // The store's side of the write-behind protocol (usage-delta.ts), as the lead is to implement it.
  interface Stored extends PersistedUsage {
    day: number;
    requestsToday: number;
    requestsThisMonth: number;
    deniedThisMonth: number;
    quotaUsedThisMonth: number;
    lastUsedTime?: number;
    creditsRefilledAt?: number;
    creditsRemaining: number;
  }
  function apply(stored: Stored, delta: UsageDelta, refillAmount: number): void {
    if (delta.day > stored.day) {
      if (monthStart(delta.day) > monthStart(stored.day)) {
        stored.requestsThisMonth = 0;
        stored.deniedThisMonth = 0;
        stored.quotaUsedThisMonth = 0;
      }
      stored.requestsToday = 0;
      stored.day = delta.day;
    }
    stored.requestsToday += delta.requests;
    stored.requestsThisMonth += delta.requests;
    stored.deniedThisMonth += delta.denied;
    stored.quotaUsedThisMonth += delta.quotaCost;
    if (delta.lastUsedTime !== undefined) stored.lastUsedTime = delta.lastUsedTime;
    if (delta.creditsRefilledAt !== undefined) {
      stored.creditsRemaining = refillAmount;
      stored.creditsRefilledAt = delta.creditsRefilledAt;
    }
    stored.creditsRemaining -= delta.creditsSpent;
  }

  it("property: every limit holds, also across reloads from the store; denials and dry runs change nothing; deltas add up", () => {
    fc.assert(
      fc.property(limitsArb, fc.array(op, { maxLength: 120 }), ({ rate, monthlyQuota, credits }, ops) => {
        const limits: EnforcedLimits = {
          rateLimit: rate ?? undefined,
          monthlyQuota,
          credits:
            credits === null
              ? undefined
              : { remaining: credits.remaining, refill: credits.refill ?? undefined },
        };
        const book = createLimitBook({ maxKeys: 4 });
        const allowedLog: [number, number][] = [];
        // What the rate limit sees: a reload starts a fresh window (limit-book.ts says so).
        let rateLog: [number, number][] = [];
        const stored: Stored = {
          day: dayStart(NOW),
          requestsToday: 0,
          requestsThisMonth: 0,
          deniedThisMonth: 0,
          quotaUsedThisMonth: 0,
          creditsRemaining: credits?.remaining ?? 0,
        };
        const terms = (): EnforcedLimits => ({
          ...limits,
          credits: limits.credits && { ...limits.credits, remaining: stored.creditsRemaining },
        });
        const flush = () => {
          const batch = book.drain();
          for (const delta of batch) apply(stored, delta, credits?.refill?.amount ?? 0);
          deltas.push(...batch);
        };
        const quotaByMonth = new Map<number, number>();
        const requestsByMonth = new Map<number, number>();
        let balance = credits?.remaining ?? 0;
        // The book takes the balance in the terms as the current period's when it first sees the key.
        let period: number | undefined;
        let allowedCount = 0;
        let deniedCount = 0;
        const deltas: UsageDelta[] = [];
        let now = NOW;
        for (const { gap, cost, dryRun, drain, reload } of ops) {
          now += gap;
          if (reload < 2 && book.has("k")) {
            if (reload === 0) flush();
            book.forget("k");
            book.load("k", stored, terms(), now);
            rateLog = [];
          }
          const month = monthStart(now);
          if (credits?.refill && period === undefined) {
            period = periodStart(now, credits.refill.interval);
            // Issuing credits records the period their balance belongs to (PersistedUsage.creditsRefilledAt).
            stored.creditsRefilledAt = period;
          }
          if (credits?.refill && period !== undefined && periodStart(now, credits.refill.interval) > period) {
            period = periodStart(now, credits.refill.interval);
            balance = credits.refill.amount;
          }
          const before = book.usage("k", now) ?? {
            requestsToday: 0,
            requestsThisMonth: 0,
            deniedThisMonth: 0,
          };
          const d = book.consume("k", terms(), cost, now, dryRun);
          const after = book.usage("k", now);
          const usedQuota = quotaByMonth.get(month) ?? 0;
          const inWindow = rate
            ? rateLog.filter(([t]) => t > now - rate.windowMs).reduce((s, [, c]) => s + c, 0)
            : 0;
          switch (d.reason) {
            case "allowed":
              if (rate) expect(inWindow + cost).toBeLessThanOrEqual(rate.limit);
              if (monthlyQuota > 0) expect(usedQuota + cost).toBeLessThanOrEqual(monthlyQuota);
              if (credits) expect(d.creditsRemaining).toBe(balance - cost);
              break;
            case "rate_limited": {
              // Denied only when the window plus one sub-bucket is full (rate-limit.ts).
              const margin = now - (rate?.windowMs ?? 0) - bucketWidthMs(rate?.windowMs ?? 0);
              const inWider = rateLog.filter(([t]) => t > margin).reduce((s, [, c]) => s + c, 0);
              expect(inWider + cost).toBeGreaterThan(rate?.limit ?? 0);
              expect(d.quota).toBeUndefined();
              expect(d.creditsRemaining).toBeUndefined();
              break;
            }
            case "quota_exceeded":
              expect(usedQuota + cost).toBeGreaterThan(monthlyQuota);
              expect(d.creditsRemaining).toBeUndefined();
              break;
            case "credits_exhausted":
              expect(balance).toBeLessThan(cost);
              expect(d.creditsRemaining).toBe(balance);
              break;
          }
          if (dryRun || d.reason !== "allowed") {
            const denied = !dryRun && d.reason !== "allowed" ? 1 : 0;
            expect(after).toMatchObject({ ...before, deniedThisMonth: before.deniedThisMonth + denied });
            deniedCount += denied;
          } else {
            allowedLog.push([now, cost]);
            rateLog.push([now, cost]);
            quotaByMonth.set(month, usedQuota + cost);
            requestsByMonth.set(month, (requestsByMonth.get(month) ?? 0) + 1);
            if (credits) balance -= cost;
            allowedCount++;
            expect(after?.requestsThisMonth).toBe(requestsByMonth.get(month));
            expect(after?.lastUsedTime).toBe(now);
          }
          if (drain) flush();
        }
        flush();
        // The store, fed only the drained deltas, ends where the reference model does.
        if (credits) expect(stored.creditsRemaining).toBe(balance);
        expect(stored.quotaUsedThisMonth).toBe(quotaByMonth.get(monthStart(stored.day)) ?? 0);
        expect(stored.requestsThisMonth).toBe(requestsByMonth.get(monthStart(stored.day)) ?? 0);
        expect(deltas.reduce((s, d) => s + d.requests, 0)).toBe(allowedCount);
        expect(deltas.reduce((s, d) => s + d.denied, 0)).toBe(deniedCount);
        expect(deltas.reduce((s, d) => s + d.quotaCost, 0)).toBe(allowedLog.reduce((s, [, c]) => s + c, 0));
        for (const delta of deltas) expect(dayStart(delta.day)).toBe(delta.day);
      }),
      { numRuns: 300 },
    );
  });
});
