import type { Clock } from "./clock.js";
import type { KeyLimits } from "./key-limits.js";
import type { LimitBook } from "./limit-book.js";
import type { EnforcedLimits, LimitDecision } from "./limit-decision.js";
import type { MaybePromise } from "./maybe-promise.js";
import type { TierTable } from "./tiers.js";

/**
 * Where a decision counts a key's use against its limits: the one limit book that all of a server's
 * processes share. In a single process that is a book in memory, answered synchronously; with several
 * workers the primary holds it and a worker asks it (process/limit-client.ts), so that a limit holds
 * for the key as a whole, not per worker.
 */
export interface LimitGate {
  /** Decides a request of `cost` and, unless it is refused or a dry run, consumes it. */
  consume(keyId: string, limits: EnforcedLimits, cost: number, dryRun: boolean): MaybePromise<LimitDecision>;
}

/**
 * What a key is held to now: its own rate limit, else its tier's. Undefined when nothing applies, so
 * that such a key costs the decision nothing. A tier missing from the table (dropped from
 * KEYWARD_TIERS after keys were issued with it) limits nothing.
 * Monthly quotas and credits are not enforced yet: they must survive restarts, which needs the
 * write-behind usage store (issue 12, not done); until then they are stored and shown only.
 */
export function enforcedLimits(terms: KeyLimits, tiers: TierTable): EnforcedLimits | undefined {
  const rateLimit = terms.rateLimit ?? (terms.tier === "" ? undefined : tiers.get(terms.tier));
  return rateLimit === undefined ? undefined : { rateLimit, monthlyQuota: 0 };
}

/** The gate of a single process: its own book, read with its own clock. */
export function localLimitGate(book: LimitBook, clock: Clock): LimitGate {
  return {
    consume: (keyId, limits, cost, dryRun) => book.consume(keyId, limits, cost, clock.now(), dryRun),
  };
}
