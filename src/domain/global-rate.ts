/**
 * The rate windows that every replica shares (issue 14), as the global limit gate needs them; Redis
 * holds them (store/redis-rate-windows.ts). A window counts exactly as rate-limit.ts does, in
 * sub-buckets of the server's clock (Redis's), so that no replica's clock decides.
 */

/** A rate limit's terms: at most `limit` cost in any window of `windowMs`. */
export interface RateTerms {
  readonly limit: number;
  readonly windowMs: number;
}

/** One answer of the shared window. Times are durations from the moment it was given. */
export interface GlobalRateAnswer {
  readonly allowed: boolean;
  /** Cost that could still be allowed (after this request, when allowed), not counting `reserved`. */
  readonly remaining: number;
  /** Until everything counted now has left the window. */
  readonly resetInMs: number;
  /** On a denial, the wait before the same request could be allowed; undefined when waiting never helps. */
  readonly retryAfterMs: number | undefined;
  /** Units counted beyond the request's cost for this replica to spend on its own (0: none). */
  readonly reserved: number;
  /** The reserved units may be spent only within this: the end of the sub-bucket they were counted in. */
  readonly reservedForMs: number;
  /** The sub-bucket the request (and the reserved units) were counted in; unspent units go back to it. */
  readonly bucket: number;
}

/** The shared windows; see createRedisRateWindows. */
export interface GlobalRateWindows {
  /** Whether the shared windows answer now; while not, each replica enforces its share locally. */
  readonly available: boolean;
  /**
   * Decides a request of `cost` and, when it is allowed and not a dry run, counts it, with up to
   * room ÷ `reserveDivisor` more units reserved for this replica (0: reserve none). Rejects when the
   * windows cannot answer (the caller then decides locally).
   */
  consume(
    keyId: string,
    rate: RateTerms,
    cost: number,
    dryRun: boolean,
    reserveDivisor: number,
  ): Promise<GlobalRateAnswer>;
  /** Gives back reserved units never spent, to the sub-bucket they were counted in (if it still counts). */
  release(keyId: string, rate: RateTerms, bucket: number, units: number): void;
}
