import type { JsonObject } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import type { LimitReport } from "../domain/limit-report.js";
import type { Reason as DomainReason } from "../domain/reason.js";
import type { AuthorizeResponse } from "../gen/keyward/v1/authorize_service_pb.js";
import { Reason } from "../gen/keyward/v1/key_pb.js";
import { limitDetails, rateLimitHeaders } from "../transport/rate-limit-headers.js";

/** A denial as an HTTP service answers it: the same status, headers and JSON body as Keyward's Check. */
export interface HttpDenial {
  readonly status: number;
  readonly headers: [name: string, value: string][];
  readonly body: string;
}

/**
 * What transport/gateway-answers.ts (deniedAnswer) makes of a denial, made from an Authorize answer:
 * `{ error: { code, message, details } }` with `required_scopes`, the key's id, granted and missing
 * scopes and expiry, `www-authenticate` on a 401, and the rate-limit headers and 429 details of a
 * counted answer. test/client/http-guards.test.ts compares the two byte for byte.
 */
export function httpDenial(answer: AuthorizeResponse, requiredScopes: readonly string[]): HttpDenial {
  const reason = Reason[answer.reason].toLowerCase() as DomainReason;
  const details: JsonObject = {};
  if (requiredScopes.length > 0) details.required_scopes = [...requiredScopes];
  if (answer.keyId !== "") {
    details.key_id = answer.keyId;
    details.granted_scopes = [...answer.grantedScopes];
    if (answer.missingScopes.length > 0) details.missing_scopes = [...answer.missingScopes];
    if (answer.expireTime !== undefined)
      details.expire_time = new Date(timestampMs(answer.expireTime)).toISOString();
  }
  const status = answer.httpStatus;
  const headers: [string, string][] = [["content-type", "application/json"]];
  if (status === 401) headers.push(["www-authenticate", 'Bearer realm="keyward", error="invalid_token"']);
  const limits = limitReport(answer);
  if (limits !== undefined) {
    headers.push(...rateLimitHeaders(limits));
    if (status === 429) Object.assign(details, limitDetails(reason, limits));
  }
  return {
    status,
    headers,
    body: JSON.stringify({ error: { code: reason, message: answer.message, details } }),
  };
}

/** The answer's limit fields as the server's LimitReport; undefined when the key has no limit. */
function limitReport(answer: AuthorizeResponse): LimitReport | undefined {
  const { rateLimit, quota, creditsRemaining, retryAfter } = answer;
  if (rateLimit === undefined && quota === undefined && creditsRemaining === undefined) return undefined;
  const status = (limit: NonNullable<AuthorizeResponse["rateLimit"]>) => ({
    limit: Number(limit.limit),
    remaining: Number(limit.remaining),
    resetTime: limit.resetTime === undefined ? 0 : timestampMs(limit.resetTime),
  });
  const report: { -readonly [K in keyof LimitReport]: LimitReport[K] } = {};
  if (rateLimit !== undefined) report.rateLimit = status(rateLimit);
  if (quota !== undefined) report.quota = status(quota);
  if (creditsRemaining !== undefined) report.creditsRemaining = Number(creditsRemaining);
  if (retryAfter !== undefined)
    report.retryAfterMs = Number(retryAfter.seconds) * 1000 + Math.round(retryAfter.nanos / 1e6);
  return report;
}
