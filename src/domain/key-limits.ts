import { parseCidrs } from "./cidr.js";

/** At most `limit` requests in any `windowMs` (key.proto RateLimit). */
export interface RateLimit {
  readonly limit: number;
  readonly windowMs: number;
}

import type { RefillInterval } from "./usage-period.js";

export type { RefillInterval };

/** A key's credit balance; `refill` undefined: never topped up. */
export interface Credits {
  readonly remaining: number;
  readonly refill: { readonly amount: number; readonly interval: RefillInterval } | undefined;
  /**
   * When IssueKey or UpdateKey last set the balance (ms); undefined for balances set before it was kept.
   * A balance set anew replaces what the limit book counted, and spending counted before it is dropped.
   */
  readonly setTime?: number | undefined;
}

/**
 * What a key is limited by, as stored. A key issued before limits existed has none of them:
 * no tier, no rate limit, quota 0 (unlimited), no credits, no CIDRs (migration 0003).
 */
export interface KeyLimits {
  /** "" for none. */
  readonly tier: string;
  /** The key's own limit, overriding its tier's; undefined to use the tier's. */
  readonly rateLimit: RateLimit | undefined;
  /** Allowed requests per calendar month (UTC); 0 for unlimited. */
  readonly monthlyQuota: number;
  /** undefined: the key is not credit-limited. */
  readonly credits: Credits | undefined;
  /** Normalized CIDRs (a bare address is /32 or /128); empty: any address. */
  readonly allowedCidrs: readonly string[];
}

/** The limits of a key that has none. */
export const NO_LIMITS: KeyLimits = Object.freeze({
  tier: "",
  rateLimit: undefined,
  monthlyQuota: 0,
  credits: undefined,
  allowedCidrs: Object.freeze([]) as readonly string[],
});

/** The limits part of a key record (rotation copies them to the replacement). */
export function limitsOf(key: KeyLimits): KeyLimits {
  const { tier, rateLimit, monthlyQuota, credits, allowedCidrs } = key;
  return { tier, rateLimit, monthlyQuota, credits, allowedCidrs };
}

/** Shortest and longest rate-limit window: below a second is noise, beyond a day is a quota. */
export const MIN_WINDOW_MS = 1_000;
export const MAX_WINDOW_MS = 86_400_000;
const MAX_CIDRS = 100;

// Each returns a message naming what is wrong, or undefined; IssueKey and UpdateKey share them.

export function rateLimitError(rateLimit: RateLimit | undefined): string | undefined {
  if (rateLimit === undefined) return undefined;
  if (!Number.isSafeInteger(rateLimit.limit) || rateLimit.limit < 1)
    return "rate_limit.limit must be 1 or more";
  if (!(rateLimit.windowMs >= MIN_WINDOW_MS && rateLimit.windowMs <= MAX_WINDOW_MS)) {
    return "rate_limit.window must be from 1s to 24h";
  }
  return undefined;
}

export function monthlyQuotaError(quota: number | undefined): string | undefined {
  if (quota === undefined) return undefined;
  return Number.isSafeInteger(quota) && quota >= 0
    ? undefined
    : "monthly_quota must be 0 (unlimited) or more";
}

export function creditsError(credits: Credits | undefined): string | undefined {
  if (credits === undefined) return undefined;
  if (!Number.isSafeInteger(credits.remaining) || credits.remaining < 0) {
    return "credits.remaining must be 0 or more";
  }
  const refill = credits.refill;
  if (refill !== undefined && (!Number.isSafeInteger(refill.amount) || refill.amount < 1)) {
    return "credits.refill.amount must be 1 or more";
  }
  return undefined;
}

/** The CIDRs normalized and without duplicates, or a message naming the first invalid one. */
export function normalizeCidrs(cidrs: readonly string[]): { cidrs: string[] } | { error: string } {
  if (cidrs.length > MAX_CIDRS) return { error: `at most ${MAX_CIDRS} allowed_cidrs` };
  const parsed = parseCidrs(cidrs);
  if (!parsed.ok) return { error: `allowed_cidrs: ${parsed.error.message}` };
  return { cidrs: parsed.value.map((cidr) => cidr.text) };
}
