import { checkRate, createRateWindow, type RateDecision, type RateWindow } from "./rate-limit.js";
import {
  dayStart,
  monthStart,
  nextMonthStart,
  nextRefill,
  periodStart,
  type RefillInterval,
} from "./usage-period.js";

/**
 * One process's memory of every key's limits and usage (issue 12): it decides and consumes in one call,
 * and keeps what it counted as deltas for a write-behind flush. It is the only home of these counters
 * (STYLE.md habit 17). What it forgets: a key idle long enough to be evicted (LRU past `maxKeys`) or
 * passed to `forget` loses its rate window, usage and credit balance here; its unflushed deltas are kept
 * for the next drain, and the caller must `load` it from the store again before its next request, or it
 * starts from zero usage and the credits the key's terms carry. A fresh rate window allows a full `limit`
 * again, so evicting a key mid-window can let it through up to twice its limit in that window.
 */

/** A key's limits as its terms (or its tier) set them; only what is present is enforced. */
export interface KeyLimits {
  readonly rateLimit?: { readonly limit: number; readonly windowMs: number };
  /** Cost allowed per calendar month (UTC); 0 for unlimited. */
  readonly monthlyQuota: number;
  readonly credits?: {
    readonly remaining: number;
    readonly refill?: { readonly amount: number; readonly interval: RefillInterval };
  };
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
  reason: "allowed" | "rate_limited" | "quota_exceeded" | "credits_exhausted";
  rateLimit?: LimitStatus;
  quota?: LimitStatus;
  creditsRemaining?: number;
  /** On a denial, the wait until it could succeed; absent when waiting never helps (cost above the limit). */
  retryAfterMs?: number;
}

/** Usage read back from the store, to seed a key this book does not hold. */
export interface PersistedUsage {
  /** Start of the UTC day the day count belongs to; the counts are dropped when it is not today. */
  readonly day: number;
  readonly requestsToday: number;
  readonly requestsThisMonth: number;
  readonly deniedThisMonth: number;
  /** Cost counted against the monthly quota this month (equal to requestsThisMonth while every cost is 1). */
  readonly quotaUsedThisMonth: number;
  readonly lastUsedTime?: number;
  /** Start of the refill period the stored `credits.remaining` belongs to; unset: the current one. */
  readonly creditsRefilledAt?: number;
}

/**
 * What changed for a key in one UTC day since the last drain. The store adds the counts to the day and
 * month `day` falls in. Credits: if `creditsRefilledAt` is set, the balance was refilled to the refill
 * amount at that time and `creditsSpent` is what was spent since; otherwise subtract `creditsSpent`.
 */
export interface UsageDelta {
  keyId: string;
  day: number;
  requests: number;
  denied: number;
  quotaCost: number;
  creditsSpent: number;
  creditsRefilledAt?: number;
  lastUsedTime?: number;
}

/** Options of createLimitBook. */
export interface LimitBookOptions {
  /** Keys held at most; the least recently used is evicted past it. */
  maxKeys: number;
}

/** The book; see createLimitBook. */
export interface LimitBook {
  /** Decides a request of `cost` at `now` and, unless denied or a dry run, consumes it from every limit. */
  consume(keyId: string, limits: KeyLimits, cost: number, now: number, dryRun?: boolean): LimitDecision;
  /** Counts a request denied for another reason (scope, address) once the key was identified. */
  countDenied(keyId: string, limits: KeyLimits, now: number): void;
  /** Whether the book holds the key; when not, `load` it before `consume`. */
  has(keyId: string): boolean;
  /** Seeds a key from the store, replacing what the book held for it (its unflushed deltas are kept). */
  load(keyId: string, persisted: PersistedUsage, limits: KeyLimits, now: number): void;
  /** Drops a key (its terms changed); its unflushed deltas are kept for the next drain. */
  forget(keyId: string): void;
  /** The deltas since the last drain, each for one key and one UTC day. */
  drain(): UsageDelta[];
  /** The usage the book holds for a key as of `now`, for GetKey answers and tests. */
  usage(keyId: string, now: number): KeyUsage | undefined;
}

/** A key's counts as of a time (the proto KeyUsage). */
export interface KeyUsage {
  requestsToday: number;
  requestsThisMonth: number;
  deniedThisMonth: number;
  lastUsedTime?: number;
}

interface Entry {
  window: RateWindow | undefined;
  day: number;
  requestsToday: number;
  requestsThisMonth: number;
  deniedThisMonth: number;
  quotaUsedThisMonth: number;
  lastUsedTime: number | undefined;
  credits: number;
  creditsPeriod: number;
  pending: UsageDelta;
}

/** An empty book; the clock is the `now` passed to each call. */
export function createLimitBook(options: LimitBookOptions): LimitBook {
  // A Map iterates in insertion order: re-inserting on use keeps the least recently used first.
  const entries = new Map<string, Entry>();
  // Deltas closed by a day boundary or an eviction, waiting for the next drain.
  const outbox: UsageDelta[] = [];
  const rate: RateDecision = { allowed: false, remaining: 0, resetTime: 0, retryAfterMs: 0 };

  function close(entry: Entry): void {
    const p = entry.pending;
    if (p.requests > 0 || p.denied > 0 || p.creditsSpent > 0 || p.creditsRefilledAt !== undefined)
      outbox.push(p);
  }

  function put(keyId: string, entry: Entry): void {
    entries.set(keyId, entry);
    if (entries.size > options.maxKeys) {
      const [oldestId, oldest] = entries.entries().next().value as [string, Entry];
      entries.delete(oldestId);
      close(oldest);
    }
  }

  function entryFor(keyId: string, limits: KeyLimits, now: number): Entry {
    let entry = entries.get(keyId);
    if (entry === undefined) {
      entry = fresh(keyId, limits, now);
      put(keyId, entry);
    } else {
      entries.delete(keyId);
      entries.set(keyId, entry);
    }
    roll(entry, keyId, limits, now);
    return entry;
  }

  // Starts a new day (and month) and refills credits when `now` has passed their boundaries.
  function roll(entry: Entry, keyId: string, limits: KeyLimits, now: number): void {
    const today = dayStart(now);
    if (today > entry.day) {
      if (monthStart(today) > monthStart(entry.day)) {
        entry.requestsThisMonth = 0;
        entry.deniedThisMonth = 0;
        entry.quotaUsedThisMonth = 0;
      }
      entry.requestsToday = 0;
      entry.day = today;
      close(entry);
      entry.pending = emptyDelta(keyId, today);
    }
    const refill = limits.credits?.refill;
    if (refill !== undefined) {
      const period = periodStart(now, refill.interval);
      if (period > entry.creditsPeriod) {
        entry.credits = refill.amount;
        entry.creditsPeriod = period;
        entry.pending.creditsRefilledAt = period;
        entry.pending.creditsSpent = 0;
      }
    }
    const window = limits.rateLimit?.windowMs;
    // A changed window length starts a fresh window; a changed limit applies to the counts held.
    if (window === undefined) entry.window = undefined;
    else if (entry.window?.windowMs !== window) entry.window = createRateWindow(window);
  }

  return {
    consume(keyId, limits, cost, now, dryRun = false) {
      const entry = entryFor(keyId, limits, now);
      const decision: LimitDecision = { reason: "allowed" };
      if (limits.rateLimit !== undefined && entry.window !== undefined) {
        checkRate(entry.window, limits.rateLimit.limit, now, cost, true, rate);
        decision.rateLimit = {
          limit: limits.rateLimit.limit,
          remaining: rate.remaining,
          resetTime: rate.resetTime,
        };
        if (!rate.allowed) return deny(entry, decision, "rate_limited", rate.retryAfterMs, dryRun);
      }
      const quota = limits.monthlyQuota;
      if (quota > 0) {
        const fits = entry.quotaUsedThisMonth + cost <= quota;
        const resetTime = nextMonthStart(now);
        const used = entry.quotaUsedThisMonth + (fits ? cost : 0);
        decision.quota = { limit: quota, remaining: Math.max(0, quota - used), resetTime };
        if (!fits)
          return deny(entry, decision, "quota_exceeded", cost > quota ? undefined : resetTime - now, dryRun);
      }
      if (limits.credits !== undefined) {
        const fits = entry.credits >= cost;
        decision.creditsRemaining = fits ? entry.credits - cost : entry.credits;
        if (!fits) {
          const refill = limits.credits.refill;
          const wait =
            refill === undefined || cost > refill.amount ? undefined : nextRefill(now, refill.interval) - now;
          return deny(entry, decision, "credits_exhausted", wait, dryRun);
        }
      }
      if (dryRun) return decision;
      if (entry.window !== undefined && limits.rateLimit !== undefined) {
        checkRate(entry.window, limits.rateLimit.limit, now, cost, false, rate);
      }
      entry.requestsToday++;
      entry.requestsThisMonth++;
      entry.quotaUsedThisMonth += cost;
      entry.lastUsedTime = now;
      if (limits.credits !== undefined) entry.credits -= cost;
      const p = entry.pending;
      p.requests++;
      p.quotaCost += cost;
      p.lastUsedTime = now;
      if (limits.credits !== undefined) p.creditsSpent += cost;
      return decision;
    },
    countDenied(keyId, limits, now) {
      const entry = entryFor(keyId, limits, now);
      entry.deniedThisMonth++;
      entry.pending.denied++;
    },
    has: (keyId) => entries.has(keyId),
    load(keyId, persisted, limits, now) {
      const old = entries.get(keyId);
      if (old !== undefined) {
        entries.delete(keyId);
        close(old);
      }
      const entry = fresh(keyId, limits, now);
      const today = dayStart(now);
      if (monthStart(persisted.day) === monthStart(today)) {
        entry.requestsThisMonth = persisted.requestsThisMonth;
        entry.deniedThisMonth = persisted.deniedThisMonth;
        entry.quotaUsedThisMonth = persisted.quotaUsedThisMonth;
        if (persisted.day === today) entry.requestsToday = persisted.requestsToday;
      }
      if (persisted.lastUsedTime !== undefined) entry.lastUsedTime = persisted.lastUsedTime;
      if (persisted.creditsRefilledAt !== undefined) entry.creditsPeriod = persisted.creditsRefilledAt;
      put(keyId, entry);
      roll(entry, keyId, limits, now);
    },
    forget(keyId) {
      const entry = entries.get(keyId);
      if (entry === undefined) return;
      entries.delete(keyId);
      close(entry);
    },
    drain() {
      const deltas = outbox.splice(0);
      for (const [keyId, entry] of entries) {
        close(entry);
        entry.pending = emptyDelta(keyId, entry.day);
      }
      return deltas.concat(outbox.splice(0));
    },
    usage(keyId, now) {
      const entry = entries.get(keyId);
      if (entry === undefined) return undefined;
      const today = dayStart(now);
      const sameMonth = monthStart(today) === monthStart(entry.day);
      const usage: KeyUsage = {
        requestsToday: today === entry.day ? entry.requestsToday : 0,
        requestsThisMonth: sameMonth ? entry.requestsThisMonth : 0,
        deniedThisMonth: sameMonth ? entry.deniedThisMonth : 0,
      };
      if (entry.lastUsedTime !== undefined) usage.lastUsedTime = entry.lastUsedTime;
      return usage;
    },
  };

  function deny(
    entry: Entry,
    decision: LimitDecision,
    reason: LimitDecision["reason"],
    retryAfterMs: number | undefined,
    dryRun: boolean,
  ): LimitDecision {
    decision.reason = reason;
    if (retryAfterMs !== undefined && Number.isFinite(retryAfterMs)) decision.retryAfterMs = retryAfterMs;
    if (!dryRun) {
      entry.deniedThisMonth++;
      entry.pending.denied++;
    }
    return decision;
  }
}

function fresh(keyId: string, limits: KeyLimits, now: number): Entry {
  const refill = limits.credits?.refill;
  const day = dayStart(now);
  return {
    window: undefined,
    day,
    requestsToday: 0,
    requestsThisMonth: 0,
    deniedThisMonth: 0,
    quotaUsedThisMonth: 0,
    lastUsedTime: undefined,
    credits: limits.credits?.remaining ?? 0,
    // The balance the terms carry is taken as this period's, so the first refill is at the next boundary.
    creditsPeriod: refill === undefined ? Number.NEGATIVE_INFINITY : periodStart(now, refill.interval),
    pending: emptyDelta(keyId, day),
  };
}

function emptyDelta(keyId: string, day: number): UsageDelta {
  return { keyId, day, requests: 0, denied: 0, quotaCost: 0, creditsSpent: 0 };
}
