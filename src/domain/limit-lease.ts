import type { LimitBook } from "./limit-book.js";
import type { EnforcedLimits, LimitDecision } from "./limit-decision.js";
import { bucketWidthMs } from "./rate-limit.js";
import { nextMonthStart, nextRefill } from "./usage-period.js";

/**
 * Leases (issue 12: "a key far below its limit costs no cross-process round trip"). The cluster primary
 * holds the one limit book; with an allowed answer it may hand the asking worker a slice of the key's
 * budget, which the worker spends locally (lease-ledger.ts) and gives back unspent when it expires.
 *
 * Nothing is over-granted: the slice is taken from the book when it is granted, exactly as that many
 * requests of cost 1 counted then, in the rate window's sub-bucket of `grantedAt`. The lease expires at
 * the end of that sub-bucket, so every unit is spent in the sub-bucket it was counted in, and the rate
 * window's guarantee (never more than the limit in any window, rate-limit.ts) holds as if the primary had
 * counted each request. What it costs: units leased out and not yet spent are unavailable to the other
 * workers until the lease expires or comes back, so a request can be denied for them (README, "Counting
 * guarantees"); hence slices only when the key is far below every limit.
 */

/** A slice of a key's budget granted to one worker. Times are ms since the epoch. */
export interface Lease {
  /** Cost the worker may still allow on its own. */
  readonly units: number;
  /** When the book counted the units: the sub-bucket a release gives them back to. */
  readonly grantedAt: number;
  /** The worker spends from the lease only before this. */
  readonly expiresAt: number;
}

/** A decision and the lease that came with it, if any. */
export interface LeasedDecision {
  readonly decision: LimitDecision;
  readonly lease?: Lease | undefined;
}

/** A slice is room / (LEASE_SHARE × workers): the workers together can hold a quarter of the room at most. */
export const LEASE_SHARE = 4;
/**
 * No lease below this: a small slice saves few round trips, and near the limit it would deny requests
 * that another worker could have had (the last few units of a budget are always decided by the primary).
 */
export const LEASE_MIN_UNITS = 4;
/** Bounds the units one worker can strand by crashing. */
export const LEASE_MAX_UNITS = 1000;
/** How long a lease lasts for a key without a rate limit (quota or credits only). */
export const LEASE_MS_WITHOUT_RATE = 1000;

/**
 * The slice to lease after an allowed `decision`, for a server of `workers` workers: the smallest room
 * left in any limit the key has, divided by LEASE_SHARE × workers, at most LEASE_MAX_UNITS; 0 (no lease)
 * when that is below LEASE_MIN_UNITS, when the request was denied, or when the key has no limit at all.
 */
export function leaseUnits(decision: LimitDecision, workers: number): number {
  if (decision.reason !== "allowed") return 0;
  const rooms = [decision.rateLimit?.remaining, decision.quota?.remaining, decision.creditsRemaining];
  let room = Number.POSITIVE_INFINITY;
  for (const r of rooms) if (r !== undefined) room = Math.min(room, r);
  if (room === Number.POSITIVE_INFINITY) return 0;
  const units = Math.min(LEASE_MAX_UNITS, Math.floor(room / (LEASE_SHARE * Math.max(1, workers))));
  return units < LEASE_MIN_UNITS ? 0 : units;
}

/**
 * When a lease counted at `grantedAt` ends: the end of the rate window's sub-bucket holding it (so that
 * its units are spent where they were counted), else LEASE_MS_WITHOUT_RATE later; never past the next
 * month (the quota resets) or the next credit refill (the balance is replaced).
 */
export function leaseExpiry(limits: EnforcedLimits, grantedAt: number): number {
  const rate = limits.rateLimit;
  let end: number;
  if (rate === undefined) end = grantedAt + LEASE_MS_WITHOUT_RATE;
  else {
    const width = bucketWidthMs(rate.windowMs);
    end = (Math.floor(grantedAt / width) + 1) * width;
  }
  if (limits.monthlyQuota > 0) end = Math.min(end, nextMonthStart(grantedAt));
  const refill = limits.credits?.refill;
  if (refill !== undefined) end = Math.min(end, nextRefill(grantedAt, refill.interval));
  return end;
}

/**
 * Decides a request on the primary's book and, when it is allowed and not a dry run, takes a lease for
 * the worker that asked. The decision reports the room as the worker sees it: the lease's units included.
 */
export function consumeLeasing(
  book: LimitBook,
  keyId: string,
  limits: EnforcedLimits,
  cost: number,
  now: number,
  workers: number,
): LeasedDecision {
  const decision = book.consume(keyId, limits, cost, now);
  const units = leaseUnits(decision, workers);
  if (units === 0) return { decision };
  const grantedAt = book.take(keyId, limits, units, now);
  if (grantedAt === undefined) return { decision };
  return { decision, lease: { units, grantedAt, expiresAt: leaseExpiry(limits, grantedAt) } };
}

/** Which terms a lease was granted under: a lease is spent only for requests held to the same ones. */
export function limitsFingerprint(limits: EnforcedLimits): string {
  return JSON.stringify(limits);
}
