import { create } from "@bufbuild/protobuf";
import { type Duration, durationFromMs } from "@bufbuild/protobuf/wkt";
import type { Credits as DomainCredits, RateLimit as DomainRateLimit } from "../domain/key-limits.js";
import { fail, type Outcome, ok } from "../domain/outcome.js";
import {
  type Credits,
  CreditsSchema,
  type RateLimit,
  RateLimitSchema,
  RefillInterval,
} from "../gen/keyward/v1/key_pb.js";

// Wire ↔ domain for a key's limits (issue 12). int64 arrives as bigint; beyond 2^53 it is refused
// rather than rounded, so that what is stored is what was asked for.

export function rateLimitToProto(rateLimit: DomainRateLimit): RateLimit {
  return create(RateLimitSchema, {
    limit: BigInt(rateLimit.limit),
    window: durationFromMs(rateLimit.windowMs),
  });
}

/** The domain checks the range; this only refuses what cannot be represented. */
export function rateLimitFromProto(rateLimit: RateLimit, field: string): Outcome<DomainRateLimit> {
  const limit = int64(rateLimit.limit, `${field}.limit`);
  if (!limit.ok) return limit;
  if (rateLimit.window === undefined) return fail("invalid_argument", `${field}.window is required`);
  const windowMs = windowToMs(rateLimit.window);
  if (windowMs === undefined) return fail("invalid_argument", `${field}.window must be from 1s to 24h`);
  return ok({ limit: limit.value, windowMs });
}

export function creditsToProto(credits: DomainCredits): Credits {
  return create(CreditsSchema, {
    remaining: BigInt(credits.remaining),
    ...(credits.refill !== undefined && {
      refill: {
        amount: BigInt(credits.refill.amount),
        interval: credits.refill.interval === "daily" ? RefillInterval.DAILY : RefillInterval.MONTHLY,
      },
    }),
  });
}

export function creditsFromProto(credits: Credits): Outcome<DomainCredits> {
  const remaining = int64(credits.remaining, "credits.remaining");
  if (!remaining.ok) return remaining;
  if (credits.refill === undefined) return ok({ remaining: remaining.value, refill: undefined });
  const amount = int64(credits.refill.amount, "credits.refill.amount");
  if (!amount.ok) return amount;
  switch (credits.refill.interval) {
    case RefillInterval.DAILY:
      return ok({ remaining: remaining.value, refill: { amount: amount.value, interval: "daily" } });
    case RefillInterval.MONTHLY:
      return ok({ remaining: remaining.value, refill: { amount: amount.value, interval: "monthly" } });
    default:
      return fail("invalid_argument", "credits.refill.interval must be REFILL_INTERVAL_DAILY or _MONTHLY");
  }
}

/** An int64 field as a number; outside ±2^53 refused (the domain refuses negatives where they are wrong). */
export function int64(value: bigint, field: string): Outcome<number> {
  const n = Number(value);
  return Number.isSafeInteger(n) ? ok(n) : fail("invalid_argument", `${field} is out of range`);
}

// Whole milliseconds; a negative or sub-millisecond part is not a window.
function windowToMs(window: Duration): number | undefined {
  if (window.seconds < 0n || window.nanos < 0 || window.seconds > 86_400n) return undefined;
  return Number(window.seconds) * 1000 + Math.trunc(window.nanos / 1_000_000);
}
