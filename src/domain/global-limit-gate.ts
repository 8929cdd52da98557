import type { Clock } from "./clock.js";
import type { GlobalRateAnswer, GlobalRateWindows, RateTerms } from "./global-rate.js";
import type { EnforcedLimits, LimitDecision, LimitStatus } from "./limit-decision.js";
import type { LeasingGate } from "./limit-gate.js";
import { LEASE_MIN_UNITS, LEASE_SHARE, type Lease, leaseExpiry, leaseUnits } from "./limit-lease.js";
import type { MaybePromise } from "./maybe-promise.js";
import { createRateReservations } from "./rate-reservations.js";

/** Reservations a replica holds at most (one per key). */
export const MAX_RESERVATIONS = 10_000;
/** How often expired reservations are given back, besides on the key's next request. */
export const RESERVATION_SWEEP_MS = 1000;
/** Workers' leases whose source is remembered at most (for their release). */
export const MAX_LEASE_SOURCES = 40_000;

/** Options of globalLimitGate. */
export interface GlobalLimitGateOptions {
  readonly windows: GlobalRateWindows;
  readonly clock: Clock;
  /** KEYWARD_REPLICAS: the share of a limit each replica enforces while the windows cannot answer. */
  readonly replicas: number;
  /** Counts a request that the shared window refused as denied in the key's usage (LimitBook.countDenied). */
  readonly countDenied: (keyId: string, limits: EnforcedLimits) => void;
  /** Takes a worker's lease from the key's quota and credits in the book (LimitBook.take). */
  readonly take: (keyId: string, limits: EnforcedLimits, units: number) => number | undefined;
  readonly maxReservations?: number;
}

/** The gate, and whether it enforces rate limits locally now (for health). */
export interface GlobalLimitGate extends LeasingGate {
  /** True while the shared windows cannot answer and each replica enforces its share of every limit. */
  local(): boolean;
  close(): Promise<void>;
}

/**
 * A replica's limit gate when several replicas share rate limits (issue 14): a key's rate limit is
 * decided by the shared window (Redis), its quota and credits by this replica's book (`local`), rate first
 * as the book orders them. Far below its limit a key is answered from a reservation (rate-reservations.ts)
 * without a round trip; near it, every request asks the shared window, so the limit holds exactly for
 * the key as a whole. While the windows cannot answer, each replica enforces limit ÷ `replicas` on its
 * own book (at least 1 per window), so the key as a whole gets at most its limit when the replicas
 * share its traffic, and more only when one replica's share is below 1.
 *
 * With workers, a worker's lease of a key with a rate limit is a slice of the replica's reservation
 * (and of the book's quota and credits), spent within the same sub-bucket; its unspent units go back to
 * the reservation while that lasts, else to the shared window's sub-bucket they were counted in.
 *
 * What it costs: a request counted in the shared window that the local quota or credits then deny stays
 * counted there (it can only make a later request wait, never let one through).
 */
export function globalLimitGate(local: LeasingGate, options: GlobalLimitGateOptions): GlobalLimitGate {
  const { windows, clock, replicas, countDenied } = options;
  const reservations = createRateReservations({
    maxKeys: options.maxReservations ?? MAX_RESERVATIONS,
    release: ({ keyId, rate, bucket, units }) => windows.release(keyId, rate, bucket, units),
  });
  const sweep = setInterval(() => {
    const now = clock.now();
    reservations.sweep(now);
    for (const [source, { until }] of leaseSources) if (!(now < until)) leaseSources.delete(source);
  }, RESERVATION_SWEEP_MS);
  sweep.unref();
  // Keys with a request asking for a reservation on the way: one at a time per key.
  const reserving = new Set<string>();
  // Where each worker's lease of a rate-limited key came from (`keyId@reservedAt`), so that its unspent
  // units go back there; forgotten once its sub-bucket has left the window, or past MAX_LEASE_SOURCES
  // (oldest first: their units then stay counted until the window passes them, never freed twice).
  const leaseSources = new Map<
    string,
    { readonly rate: RateTerms; readonly bucket: number; readonly until: number }
  >();
  let closed = false;

  // The book sees a key's other limits, and its request counts; its rate window only in the fallback.
  const withoutRate = derived((limits) => ({ ...limits, rateLimit: undefined }));
  const share = derived((limits) => {
    const rate = limits.rateLimit as NonNullable<EnforcedLimits["rateLimit"]>;
    return { ...limits, rateLimit: { ...rate, limit: Math.max(1, Math.floor(rate.limit / replicas)) } };
  });

  function thenLocal(
    keyId: string,
    limits: EnforcedLimits,
    cost: number,
    dryRun: boolean,
    status: LimitStatus,
  ): MaybePromise<LimitDecision> {
    const merge = (decision: LimitDecision): LimitDecision => {
      decision.rateLimit = status;
      return decision;
    };
    const decided = local.consume(keyId, withoutRate(limits), cost, dryRun);
    return decided instanceof Promise ? decided.then(merge) : merge(decided);
  }

  function consume(
    keyId: string,
    limits: EnforcedLimits,
    cost: number,
    dryRun: boolean,
  ): MaybePromise<LimitDecision> {
    const rate = limits.rateLimit;
    if (rate === undefined) return local.consume(keyId, limits, cost, dryRun);
    if (!dryRun) {
      const status = reservations.spend(keyId, rate, cost, clock.now());
      if (status !== undefined) return thenLocal(keyId, limits, cost, dryRun, status);
    }
    if (!windows.available) return local.consume(keyId, share(limits), cost, dryRun);
    const reserve = !dryRun && !closed && !reserving.has(keyId);
    if (reserve) reserving.add(keyId);
    const decided = (answer: GlobalRateAnswer): MaybePromise<LimitDecision> => {
      const now = clock.now();
      const status = { limit: rate.limit, remaining: answer.remaining, resetTime: now + answer.resetInMs };
      if (answer.reserved > 0) {
        const reservation = {
          units: answer.reserved,
          bucket: answer.bucket,
          expiresAt: now + answer.reservedForMs,
          status,
        };
        reservations.hold(keyId, rate, reservation, now);
        if (closed) reservations.releaseAll();
      }
      if (answer.allowed) return thenLocal(keyId, limits, cost, dryRun, status);
      if (!dryRun) countDenied(keyId, withoutRate(limits));
      const denied: LimitDecision = { reason: "rate_limited", rateLimit: status };
      if (answer.retryAfterMs !== undefined) denied.retryAfterMs = answer.retryAfterMs;
      return denied;
    };
    return windows
      .consume(keyId, rate, cost, dryRun, reserve ? LEASE_SHARE * replicas : 0)
      .then(decided, () => local.consume(keyId, share(limits), cost, dryRun)) // this call failed: the share
      .finally(() => {
        if (reserve) reserving.delete(keyId);
      });
  }

  /** A worker's lease after an allowed `decision`: a slice of the reservation and of the book's limits. */
  function leaseFor(
    keyId: string,
    limits: EnforcedLimits,
    rate: RateTerms,
    decision: LimitDecision,
    workers: number,
  ): Lease | undefined {
    const units = leaseUnits(decision, workers);
    if (units === 0 || closed) return undefined;
    const now = clock.now();
    const slice = reservations.take(keyId, rate, units, LEASE_MIN_UNITS, now);
    if (slice === undefined) return undefined;
    const rest = withoutRate(limits);
    const booked = rest.monthlyQuota > 0 || rest.credits !== undefined;
    if (booked && options.take(keyId, rest, slice.units) === undefined) {
      reservations.giveBack(keyId, slice.reservedAt, slice.units, now);
      return undefined;
    }
    leaseSources.set(`${keyId}@${slice.reservedAt}`, {
      rate,
      bucket: slice.bucket,
      until: slice.expiresAt + rate.windowMs,
    });
    if (leaseSources.size > MAX_LEASE_SOURCES)
      leaseSources.delete(leaseSources.keys().next().value as string);
    const expiresAt = Math.min(slice.expiresAt, leaseExpiry(rest, now));
    return { units: slice.units, grantedAt: slice.reservedAt, expiresAt };
  }

  return {
    consume,
    consumeLeasing(keyId, limits, cost, workers) {
      const rate = limits.rateLimit;
      if (rate === undefined) return local.consumeLeasing(keyId, limits, cost, workers);
      if (!windows.available) return local.consumeLeasing(keyId, share(limits), cost, workers);
      const leased = (decision: LimitDecision) => {
        const lease =
          decision.reason === "allowed" ? leaseFor(keyId, limits, rate, decision, workers) : undefined;
        return lease === undefined ? { decision } : { decision, lease };
      };
      const decided = consume(keyId, limits, cost, false);
      return decided instanceof Promise ? decided.then(leased) : leased(decided);
    },
    release(keyId, limits, units, grantedAt) {
      const source = limits.rateLimit && leaseSources.get(`${keyId}@${grantedAt}`);
      // Granted by the book alone: no rate limit, or the fallback (or its source is forgotten).
      if (source === undefined) return local.release(keyId, limits, units, grantedAt);
      leaseSources.delete(`${keyId}@${grantedAt}`);
      const rest = withoutRate(limits);
      if (rest.monthlyQuota > 0 || rest.credits !== undefined) local.release(keyId, rest, units, grantedAt);
      if (!reservations.giveBack(keyId, grantedAt, units, clock.now()))
        windows.release(keyId, source.rate, source.bucket, units);
    },
    local: () => !windows.available,
    async close() {
      closed = true;
      clearInterval(sweep);
      reservations.releaseAll();
    },
  };
}

/** A function of a limits object kept per object: the same terms give the same derived object. */
function derived(
  make: (limits: EnforcedLimits) => EnforcedLimits,
): (limits: EnforcedLimits) => EnforcedLimits {
  const made = new WeakMap<EnforcedLimits, EnforcedLimits>();
  return (limits) => {
    let result = made.get(limits);
    if (result === undefined) {
      result = make(limits);
      made.set(limits, result);
    }
    return result;
  };
}
