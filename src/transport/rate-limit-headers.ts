import type { JsonObject } from "@bufbuild/protobuf";
import { headlineLimit, type LimitReport } from "../domain/limit-report.js";
import type { Reason } from "../domain/reason.js";

/**
 * The client-facing rate-limit headers of a counted answer: `x-ratelimit-limit`, `-remaining` and
 * `-reset` (unix seconds, rounded up), and on a 429 `retry-after` (seconds, rounded up, so that a
 * client waiting that long is not refused again). Pairs, so that every gateway protocol can use them.
 */
export function rateLimitHeaders(limits: LimitReport): [name: string, value: string][] {
  const headers: [string, string][] = [];
  const headline = headlineLimit(limits);
  if (headline !== undefined) {
    headers.push(["x-ratelimit-limit", String(headline.limit)]);
    headers.push(["x-ratelimit-remaining", String(headline.remaining)]);
    headers.push(["x-ratelimit-reset", String(Math.ceil(headline.resetTime / 1000))]);
  }
  if (limits.retryAfterMs !== undefined)
    headers.push(["retry-after", String(Math.ceil(limits.retryAfterMs / 1000))]);
  return headers;
}

/** What the JSON body of a 429 adds to its details: which limit was hit, and when it allows again. */
export function limitDetails(reason: Reason, limits: LimitReport): JsonObject {
  const details: JsonObject = {};
  const hit =
    reason === "rate_limited" ? limits.rateLimit : reason === "quota_exceeded" ? limits.quota : undefined;
  details.limit =
    reason === "rate_limited" ? "rate_limit" : reason === "quota_exceeded" ? "monthly_quota" : "credits";
  if (hit !== undefined) {
    details.limit_value = hit.limit;
    details.reset_time = new Date(hit.resetTime).toISOString();
  }
  if (limits.creditsRemaining !== undefined) details.credits_remaining = limits.creditsRemaining;
  if (limits.retryAfterMs !== undefined) details.retry_after_seconds = Math.ceil(limits.retryAfterMs / 1000);
  return details;
}
