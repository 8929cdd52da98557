/** Where a key stands against one of its limits once a request was decided. */
export interface LimitStatus {
  readonly limit: number;
  readonly remaining: number;
  /** When `remaining` is back to `limit` (rate limit) or starts over (quota), in ms since the epoch. */
  readonly resetTime: number;
}

/**
 * What a decision tells the client about the key's limits, for the rate-limit headers and the
 * 429 answers. Each part is undefined when the key has no such limit.
 */
export interface LimitReport {
  readonly rateLimit: LimitStatus | undefined;
  readonly quota: LimitStatus | undefined;
  readonly creditsRemaining: number | undefined;
  /** On a 429: how long until the same request could succeed; undefined when it cannot (no refill). */
  readonly retryAfterMs: number | undefined;
}

/**
 * The limit the `x-ratelimit-*` headers describe: the rate limit when the key has one, else its
 * monthly quota (the headers then count down the month).
 */
export function headlineLimit(report: LimitReport): LimitStatus | undefined {
  return report.rateLimit ?? report.quota;
}
