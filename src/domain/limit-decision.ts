import type { Reason } from "./reason.js";
import type { RefillInterval } from "./usage-period.js";

// What a key is held to and what the limit book (limit-book.ts) answers about it; Authorize converts the
// decision into its reason, LimitStatus messages and retry_after at the edge.

/**
 * The limits enforced for a key: its stored terms with the tier's rate limit filled in. Only what is
 * present is enforced; the stored KeyLimits (key-limits.ts, from the key-management work) is assignable to it.
 */
export interface EnforcedLimits {
  readonly rateLimit?: { readonly limit: number; readonly windowMs: number } | undefined;
  /** Cost allowed per calendar month (UTC); 0 for unlimited. */
  readonly monthlyQuota: number;
  readonly credits?:
    | {
        readonly remaining: number;
        readonly refill?: { readonly amount: number; readonly interval: RefillInterval } | undefined;
        /** Which setting of the balance (Credits.setTime); a new one replaces what the book counted. */
        readonly setTime?: number | undefined;
      }
    | undefined;
}

/** Where a key stands against one limit after the request. */
export interface LimitStatus {
  limit: number;
  remaining: number;
  /** ms since the epoch. */
  resetTime: number;
}

/**
 * The decision; the first limit that refuses names the reason (rate limit, then quota, then credits), and
 * the limits after it are neither looked at nor reported.
 */
export interface LimitDecision {
  reason: Extract<Reason, "allowed" | "rate_limited" | "quota_exceeded" | "credits_exhausted">;
  rateLimit?: LimitStatus;
  quota?: LimitStatus;
  creditsRemaining?: number;
  /** On a denial, the wait until it could succeed; absent when waiting never helps (cost above the limit). */
  retryAfterMs?: number;
}
