import { describe, expect, it } from "vitest";
import { createLeaseLedger, type LeaseRelease } from "../../src/domain/lease-ledger.js";
import type { EnforcedLimits, LimitDecision } from "../../src/domain/limit-decision.js";

const NOW = Date.parse("2026-03-15T12:00:00Z");
const LIMITS: EnforcedLimits = { rateLimit: { limit: 1000, windowMs: 60_000 }, monthlyQuota: 10_000 };
const LEASE = { units: 10, grantedAt: NOW, expiresAt: NOW + 1000 };
const DECISION: LimitDecision = {
  reason: "allowed",
  rateLimit: { limit: 1000, remaining: 900, resetTime: NOW + 61_000 },
  quota: { limit: 10_000, remaining: 5000, resetTime: Date.parse("2026-04-01T00:00:00Z") },
};

function ledger(maxKeys = 10) {
  const released: LeaseRelease[] = [];
  return { released, ledger: createLeaseLedger({ maxKeys, release: (r) => released.push(r) }) };
}

describe("createLeaseLedger", () => {
  it("spends a lease locally, reporting the room at the grant minus what it spent", () => {
    const { ledger: l, released } = ledger();
    expect(l.spend("k", LIMITS, 1, NOW)).toBeUndefined();
    l.hold("k", LIMITS, LEASE, DECISION);
    expect(l.spend("k", LIMITS, 3, NOW + 10)).toEqual({
      reason: "allowed",
      rateLimit: { limit: 1000, remaining: 897, resetTime: NOW + 61_000 },
      quota: { limit: 10_000, remaining: 4997, resetTime: Date.parse("2026-04-01T00:00:00Z") },
    });
    expect(l.spend("k", LIMITS, 7, NOW + 20)?.rateLimit?.remaining).toBe(890);
    // Spent out: the primary decides, and nothing is left to release.
    expect(l.spend("k", LIMITS, 1, NOW + 30)).toBeUndefined();
    l.releaseAll();
    expect(released).toEqual([]);
  });

  it("asks the primary for a request larger than what is left, and keeps the rest", () => {
    const { ledger: l } = ledger();
    l.hold("k", LIMITS, LEASE, DECISION);
    expect(l.spend("k", LIMITS, 11, NOW)).toBeUndefined();
    expect(l.spend("k", LIMITS, 10, NOW)?.reason).toBe("allowed");
  });

  it("releases the unspent units of a lease that expired, on the next request or by the sweep", () => {
    const { ledger: l, released } = ledger();
    l.hold("k", LIMITS, LEASE, DECISION);
    l.spend("k", LIMITS, 4, NOW);
    expect(l.spend("k", LIMITS, 1, LEASE.expiresAt)).toBeUndefined();
    expect(released).toEqual([{ keyId: "k", limits: LIMITS, units: 6, grantedAt: NOW }]);
    l.hold("j", LIMITS, LEASE, DECISION);
    l.sweep(LEASE.expiresAt - 1);
    expect(l.size).toBe(1);
    l.sweep(LEASE.expiresAt);
    expect(l.size).toBe(0);
    expect(released[1]).toMatchObject({ keyId: "j", units: 10 });
  });

  it("drops and releases a lease once the key's terms change", () => {
    const { ledger: l, released } = ledger();
    l.hold("k", LIMITS, LEASE, DECISION);
    const lowered: EnforcedLimits = { ...LIMITS, rateLimit: { limit: 5, windowMs: 60_000 } };
    expect(l.spend("k", lowered, 1, NOW)).toBeUndefined();
    expect(released).toEqual([{ keyId: "k", limits: LIMITS, units: 10, grantedAt: NOW }]);
    // Same terms in a new object are the same terms.
    l.hold("k", LIMITS, LEASE, DECISION);
    expect(l.spend("k", structuredClone(LIMITS), 1, NOW)?.reason).toBe("allowed");
  });

  it("releases the lease a newer one replaces, and the least recently used past maxKeys", () => {
    const { ledger: l, released } = ledger(2);
    l.hold("a", LIMITS, LEASE, DECISION);
    l.hold("a", LIMITS, { ...LEASE, units: 20 }, DECISION);
    expect(released).toEqual([{ keyId: "a", limits: LIMITS, units: 10, grantedAt: NOW }]);
    l.hold("b", LIMITS, LEASE, DECISION);
    l.spend("a", LIMITS, 1, NOW); // a is now the most recently used
    l.hold("c", LIMITS, LEASE, DECISION);
    expect(l.size).toBe(2);
    expect(released[1]).toMatchObject({ keyId: "b", units: 10 });
    l.releaseAll();
    expect(released.slice(2).map((r) => [r.keyId, r.units])).toEqual([
      ["a", 19],
      ["c", 10],
    ]);
  });

  it("spends nothing before the grant (a clock that stepped back)", () => {
    const { ledger: l } = ledger();
    l.hold("k", LIMITS, LEASE, DECISION);
    expect(l.spend("k", LIMITS, 1, NOW - 1)).toBeUndefined();
    expect(l.size).toBe(1);
  });
});
