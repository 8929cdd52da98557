import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { durationMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import type { LimitReport } from "../../src/domain/limit-report.js";
import { AuthorizeResponseSchema } from "../../src/gen/keyward/v1/authorize_service_pb.js";
import { decisionToProto } from "../../src/transport/convert.js";
import { limitDetails, rateLimitHeaders } from "../../src/transport/rate-limit-headers.js";
import { FIXTURE_NOW, makeKey, verifiedKey } from "../support/fixtures.js";

const reset = FIXTURE_NOW + 59_500;
const rateLimited: LimitReport = {
  rateLimit: { limit: 10, remaining: 0, resetTime: reset },
  quota: { limit: 10_000, remaining: 9_990, resetTime: Date.UTC(2025, 1, 1) },
  creditsRemaining: 40,
  retryAfterMs: 5_001,
};

describe("rate-limit headers", () => {
  it("describe the rate limit, rounding the reset and the wait up to whole seconds", () => {
    expect(rateLimitHeaders(rateLimited)).toEqual([
      ["x-ratelimit-limit", "10"],
      ["x-ratelimit-remaining", "0"],
      ["x-ratelimit-reset", String(Math.ceil(reset / 1000))],
      ["retry-after", "6"],
    ]);
  });

  it("describe the monthly quota when the key has no rate limit, and nothing without limits", () => {
    const { rateLimit: _rate, retryAfterMs: _wait, ...quotaOnly } = rateLimited;
    expect(rateLimitHeaders(quotaOnly)).toEqual([
      ["x-ratelimit-limit", "10000"],
      ["x-ratelimit-remaining", "9990"],
      ["x-ratelimit-reset", String(Date.UTC(2025, 1, 1) / 1000)],
    ]);
    const none: LimitReport = { creditsRemaining: 3 };
    expect(rateLimitHeaders(none)).toEqual([]);
  });

  it("name the limit hit in a 429's details", () => {
    expect(limitDetails("rate_limited", rateLimited)).toEqual({
      limit: "rate_limit",
      limit_value: 10,
      reset_time: new Date(reset).toISOString(),
      credits_remaining: 40,
      retry_after_seconds: 6,
    });
    expect(limitDetails("quota_exceeded", rateLimited)).toMatchObject({
      limit: "monthly_quota",
      limit_value: 10_000,
      reset_time: "2025-02-01T00:00:00.000Z",
    });
    const { retryAfterMs: _never, ...noRefill } = rateLimited;
    expect(limitDetails("credits_exhausted", noRefill)).toEqual({
      limit: "credits",
      credits_remaining: 40,
    });
  });
});

describe("decisionToProto with limits", () => {
  it("carries rate limit, quota, credits and retry_after, and they survive the wire", () => {
    const key = verifiedKey({ key: makeKey().key, workspaceSuspended: false });
    const response = decisionToProto({ reason: "rate_limited", key, missingScopes: [], limits: rateLimited });
    const wire = fromBinary(AuthorizeResponseSchema, toBinary(AuthorizeResponseSchema, response));
    expect(wire.allowed).toBe(false);
    expect(wire.httpStatus).toBe(429);
    expect(wire.message).toBe("Rate limit exceeded");
    expect(wire.rateLimit?.limit).toBe(10n);
    expect(wire.rateLimit?.remaining).toBe(0n);
    expect(wire.rateLimit?.resetTime && timestampMs(wire.rateLimit.resetTime)).toBe(reset);
    expect(wire.quota?.remaining).toBe(9_990n);
    expect(wire.creditsRemaining).toBe(40n);
    expect(wire.retryAfter && durationMs(wire.retryAfter)).toBe(5_001);
  });

  it("leaves them unset for a decision without limits", () => {
    const key = verifiedKey({ key: makeKey().key, workspaceSuspended: false });
    const response = decisionToProto({ reason: "allowed", key, missingScopes: [] });
    expect(response.rateLimit).toBeUndefined();
    expect(response.quota).toBeUndefined();
    expect(response.creditsRemaining).toBeUndefined();
    expect(response.retryAfter).toBeUndefined();
  });
});
