import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createLeaseLedger, type LeaseRelease } from "../../src/domain/lease-ledger.js";
import { createLimitBook, type LimitBook } from "../../src/domain/limit-book.js";
import type { EnforcedLimits, LimitDecision } from "../../src/domain/limit-decision.js";
import {
  consumeLeasing,
  LEASE_MAX_UNITS,
  LEASE_MS_WITHOUT_RATE,
  leaseExpiry,
  leaseUnits,
} from "../../src/domain/limit-lease.js";
import { bucketWidthMs } from "../../src/domain/rate-limit.js";

const at = (iso: string) => Date.parse(iso);
const NOW = at("2026-03-15T12:00:00.250Z");
const MINUTE = 60_000;
const allowed = (fields: Partial<LimitDecision>): LimitDecision => ({ reason: "allowed", ...fields });
const status = (remaining: number) => ({ limit: remaining * 2, remaining, resetTime: NOW + MINUTE });

describe("leaseUnits", () => {
  it("leases the smallest room over 4 × workers, only when that is at least 4, at most 1000", () => {
    expect(leaseUnits(allowed({ rateLimit: status(800), quota: status(400) }), 2)).toBe(50);
    expect(leaseUnits(allowed({ rateLimit: status(800), creditsRemaining: 96 }), 3)).toBe(8);
    expect(leaseUnits(allowed({ quota: status(10_000_000) }), 2)).toBe(LEASE_MAX_UNITS);
    // Free tier (10/min) and a quota of 25 over 2 workers: too close to the limit, every call asks.
    expect(leaseUnits(allowed({ rateLimit: status(9) }), 2)).toBe(0);
    expect(leaseUnits(allowed({ quota: status(24), creditsRemaining: 99 }), 2)).toBe(0);
    expect(leaseUnits(allowed({ rateLimit: status(32) }), 2)).toBe(4);
    expect(leaseUnits(allowed({ rateLimit: status(31) }), 2)).toBe(0);
  });

  it("leases nothing with a denial or for a key without limits", () => {
    expect(leaseUnits({ reason: "quota_exceeded", rateLimit: status(800) }, 2)).toBe(0);
    expect(leaseUnits(allowed({}), 2)).toBe(0);
  });
});

describe("leaseExpiry", () => {
  it("ends with the rate window's sub-bucket holding the grant", () => {
    const g = bucketWidthMs(MINUTE);
    const limits: EnforcedLimits = { rateLimit: { limit: 1000, windowMs: MINUTE }, monthlyQuota: 0 };
    expect(leaseExpiry(limits, NOW)).toBe((Math.floor(NOW / g) + 1) * g);
    expect(leaseExpiry(limits, at("2026-03-15T12:00:00Z"))).toBe(at("2026-03-15T12:00:01Z"));
  });

  it("lasts a fixed time without a rate limit, never past the month's end or the next refill", () => {
    expect(leaseExpiry({ monthlyQuota: 100 }, NOW)).toBe(NOW + LEASE_MS_WITHOUT_RATE);
    const late = at("2026-03-31T23:59:59.800Z");
    expect(leaseExpiry({ monthlyQuota: 100 }, late)).toBe(at("2026-04-01T00:00:00Z"));
    const daily: EnforcedLimits = {
      monthlyQuota: 0,
      credits: { remaining: 50, refill: { amount: 50, interval: "daily" } },
    };
    expect(leaseExpiry(daily, at("2026-03-15T23:59:59.500Z"))).toBe(at("2026-03-16T00:00:00Z"));
  });
});

describe("consumeLeasing and LimitBook.refund", () => {
  const limits: EnforcedLimits = {
    rateLimit: { limit: 1000, windowMs: MINUTE },
    monthlyQuota: 10_000,
    credits: { remaining: 2000 },
  };

  it("takes the lease from every limit at the grant, and reports the room with the lease in it", () => {
    const book = createLimitBook({ maxKeys: 10 });
    const { decision, lease } = consumeLeasing(book, "k", limits, 1, NOW, 2);
    expect(decision).toMatchObject({
      reason: "allowed",
      rateLimit: { remaining: 999 },
      creditsRemaining: 1999,
    });
    expect(lease).toEqual({ units: 124, grantedAt: NOW, expiresAt: at("2026-03-15T12:00:01Z") });
    // What the book has left: 999 − 124 in the window, 1999 − 124 credits.
    expect(book.consume("k", limits, 1, NOW, true)).toMatchObject({
      rateLimit: { remaining: 874 },
      quota: { remaining: 10_000 - 126 },
      creditsRemaining: 1874,
    });
    expect(book.drain()).toMatchObject([{ quotaCost: 125, creditsSpent: 125 }]);
  });

  it("a refund gives back the unspent units to the window, the quota and the credits, as negative deltas", () => {
    const book = createLimitBook({ maxKeys: 10 });
    const { lease } = consumeLeasing(book, "k", limits, 1, NOW, 2);
    if (lease === undefined) throw new Error("no lease");
    book.drain();
    book.refund("k", limits, 100, lease.grantedAt, NOW + 2000);
    expect(book.consume("k", limits, 1, NOW + 2000, true)).toMatchObject({
      rateLimit: { remaining: 974 },
      quota: { remaining: 10_000 - 26 },
      creditsRemaining: 1974,
    });
    expect(book.drain()).toMatchObject([{ quotaCost: -100, creditsSpent: -100, requests: 0 }]);
  });

  it("a refund frees nothing in a window that has passed, nor credits set anew since the grant", () => {
    const book = createLimitBook({ maxKeys: 10 });
    const { lease } = consumeLeasing(book, "k", limits, 1, NOW, 2);
    if (lease === undefined) throw new Error("no lease");
    const reset = { ...limits, credits: { remaining: 500, setTime: NOW + 1 } };
    book.forget("k");
    book.load(
      "k",
      { day: NOW, requestsToday: 0, requestsThisMonth: 0, deniedThisMonth: 0, quotaUsedThisMonth: 0 },
      reset,
      NOW + 1,
    );
    book.refund("k", limits, 124, lease.grantedAt, NOW + 2 * MINUTE);
    expect(book.consume("k", reset, 1, NOW + 2 * MINUTE, true)).toMatchObject({
      rateLimit: { remaining: 999 },
      creditsRemaining: 499,
    });
  });

  it("a refund takes back no more than the sub-bucket holds", () => {
    const book = createLimitBook({ maxKeys: 10 });
    const rateOnly: EnforcedLimits = { rateLimit: { limit: 10, windowMs: MINUTE }, monthlyQuota: 0 };
    for (let i = 0; i < 10; i++) book.consume("k", rateOnly, 1, NOW);
    book.refund("k", rateOnly, 50, NOW - 5000, NOW); // a sub-bucket with nothing in it
    expect(book.consume("k", rateOnly, 1, NOW).reason).toBe("rate_limited");
  });
});

describe("leases shared by several workers", () => {
  let spentLocally = 0;
  /** A worker: its ledger, asking `book` (the primary's) when the lease does not cover a request. */
  function worker(book: LimitBook, workers: number, releases: LeaseRelease[]) {
    const ledger = createLeaseLedger({ maxKeys: 100, release: (r) => releases.push(r) });
    return {
      ledger,
      consume(limits: EnforcedLimits, cost: number, now: number): LimitDecision {
        const local = ledger.spend("k", limits, cost, now);
        if (local !== undefined) {
          spentLocally++;
          return local;
        }
        const { decision, lease } = consumeLeasing(book, "k", limits, cost, now, workers);
        if (lease !== undefined) ledger.hold("k", limits, lease, decision);
        return decision;
      },
    };
  }

  it("property: never more than the limit in any window, nor the quota; leases come back", () => {
    fc.assert(
      fc.property(
        fc.record({
          workers: fc.integer({ min: 2, max: 4 }),
          limit: fc.integer({ min: 1, max: 300 }),
          windowMs: fc.integer({ min: 60, max: 120_000 }),
          quota: fc.integer({ min: 0, max: 3000 }),
          steps: fc.array(
            fc.record({
              worker: fc.nat(3),
              // In thousandths of a window: bursts within a sub-bucket, steady traffic and idle spells.
              gap: fc.oneof(fc.constant(0), fc.nat(20), fc.nat(20), fc.nat(2000)),
              cost: fc.integer({ min: 1, max: 3 }),
              sweep: fc.boolean(),
            }),
            { minLength: 20, maxLength: 300, size: "max" },
          ),
        }),
        ({ workers, limit, windowMs, quota, steps }) => {
          const book = createLimitBook({ maxKeys: 10 });
          const limits: EnforcedLimits = { rateLimit: { limit, windowMs }, monthlyQuota: quota };
          const releases: LeaseRelease[] = [];
          const pool = Array.from({ length: workers }, () => worker(book, workers, releases));
          const log: [number, number][] = [];
          let now = NOW;
          for (const step of steps) {
            now += Math.floor((step.gap * windowMs) / 1000);
            const w = pool[step.worker % workers];
            if (w === undefined) continue;
            if (step.sweep) w.ledger.sweep(now);
            // The primary gives back what the workers released, in order, as the channel delivers it.
            for (const r of releases.splice(0)) book.refund(r.keyId, r.limits, r.units, r.grantedAt, now);
            if (w.consume(limits, step.cost, now).reason === "allowed") log.push([now, step.cost]);
          }
          for (const [t] of log) {
            const inWindow = log.filter(([s]) => s >= t - windowMs && s <= t);
            expect(inWindow.reduce((sum, [, c]) => sum + c, 0)).toBeLessThanOrEqual(limit);
          }
          const total = log.reduce((sum, [, c]) => sum + c, 0);
          if (quota > 0) expect(total).toBeLessThanOrEqual(quota);
          // Once every lease is back, the book counts exactly what was allowed.
          for (const w of pool) w.ledger.releaseAll();
          for (const r of releases.splice(0)) book.refund(r.keyId, r.limits, r.units, r.grantedAt, now);
          const counted = book.drain().reduce((sum, d) => sum + d.quotaCost, 0);
          expect(counted).toBe(total);
        },
      ),
      { numRuns: 500 },
    );
    // The scenarios reached the leases, not only the primary.
    expect(spentLocally).toBeGreaterThan(5000);
  });
});
