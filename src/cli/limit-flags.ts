import { create } from "@bufbuild/protobuf";
import { DurationSchema } from "@bufbuild/protobuf/wkt";
import { type Command, InvalidArgumentError } from "commander";
import {
  type CreditRefill,
  CreditRefillSchema,
  type Credits,
  CreditsSchema,
  type RateLimit,
  RateLimitSchema,
  RefillInterval,
} from "../gen/keyward/v1/key_pb.js";
import { parseDuration } from "./duration.js";

// The flags of a key's limits (issue 12), shared by `keys issue` and `keys update`. The server
// validates the ranges; these parse the shapes, so a typo is a usage error before any call.

/** The limit flags as commander hands them over; false for a `--no-…` flag on update. */
export interface LimitOptions {
  readonly tier?: string;
  readonly rateLimit?: RateLimit | false;
  readonly monthlyQuota?: bigint;
  readonly credits?: bigint | false;
  readonly refill?: CreditRefill;
  readonly allowCidr?: string[] | false;
}

/** Adds --tier, --rate-limit, --monthly-quota, --credits, --refill and --allow-cidr. */
export function addLimitOptions(command: Command): Command {
  return command
    .option("--tier <name>", "rate-limit tier: free, basic, pro, enterprise or KEYWARD_TIERS'")
    .option(
      "--rate-limit <n/window>",
      "the key's own rate limit, e.g. 100/1m (overrides the tier)",
      rateLimit,
    )
    .option("--monthly-quota <n>", "allowed requests per calendar month (UTC); 0 for unlimited", int64)
    .option("--credits <n>", "a credit balance that allowed requests spend", int64)
    .option("--refill <n/interval>", "top the credits up to n daily or monthly, e.g. 100/monthly", refill)
    .option("--allow-cidr <cidr...>", "client addresses allowed, CIDR or address (repeatable)");
}

/** `--rate-limit 100/1m`: a count and a duration (30s, 1m, 1h). */
export function rateLimit(text: string): RateLimit {
  const [count, window, extra] = text.split("/");
  const seconds = window === undefined ? undefined : parseDuration(window);
  if (extra !== undefined || count === undefined || !/^\d+$/.test(count) || !seconds) {
    throw new InvalidArgumentError("expected requests/window such as 100/1m, 10/1s or 5000/1h");
  }
  return create(RateLimitSchema, {
    limit: BigInt(count),
    window: create(DurationSchema, { seconds: BigInt(seconds) }),
  });
}

/** `--refill 100/monthly` or `100/daily`. */
export function refill(text: string): CreditRefill {
  const match = /^(\d+)\/(daily|monthly)$/.exec(text);
  if (match === null)
    throw new InvalidArgumentError("expected amount/daily or amount/monthly, e.g. 100/monthly");
  return create(CreditRefillSchema, {
    amount: BigInt(match[1] as string),
    interval: match[2] === "daily" ? RefillInterval.DAILY : RefillInterval.MONTHLY,
  });
}

/** `--monthly-quota`, `--credits`: a whole number ≥ 0 as an int64. */
export function int64(text: string): bigint {
  if (!/^\d{1,15}$/.test(text)) throw new InvalidArgumentError("expected a whole number");
  return BigInt(text);
}

/** The Credits message of --credits and --refill; undefined without --credits. */
export function creditsOf(options: LimitOptions): Credits | undefined {
  if (options.credits === undefined || options.credits === false) return undefined;
  return create(CreditsSchema, {
    remaining: options.credits,
    ...(options.refill !== undefined && { refill: options.refill }),
  });
}
