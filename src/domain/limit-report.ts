import type { LimitDecision, LimitStatus } from "./limit-decision.js";

/**
 * What a decision tells the client about the key's limits, for the answer's limit fields, the
 * rate-limit headers and the 429 bodies: the limit book's decision without its reason. A part is
 * absent when the key has no such limit (or, after a denial, when that limit was not looked at).
 */
export type LimitReport = Readonly<Omit<LimitDecision, "reason">>;

/**
 * The limit the `x-ratelimit-*` headers describe: the rate limit when the key has one, else its
 * monthly quota (the headers then count down the month).
 */
export function headlineLimit(report: LimitReport): LimitStatus | undefined {
  return report.rateLimit ?? report.quota;
}
