import type { EnforcedLimits, LimitDecision } from "./limit-decision.js";
import { checkRate, createRateWindow, type RateDecision, type RateWindow, uncount } from "./rate-limit.js";
import {
  emptyDelta,
  hasChanges,
  type PersistedUsage,
  type UsageCounts,
  type UsageDelta,
} from "./usage-delta.js";
import { dayStart, monthStart, nextMonthStart, nextRefill, periodStart } from "./usage-period.js";

/**
 * One process's memory of every key's limits and usage (issue 12): it decides and consumes in one call
 * and keeps what it counted as deltas for a write-behind flush. It is the only home of these counters
 * (STYLE.md habit 17), and each process enforces on its own counts: N instances behind a balancer let a
 * key through up to N times its limits until a shared store or affinity says otherwise.
 *
 * What it forgets: a key evicted (least recently used past `maxKeys`) or passed to `forget` loses its rate
 * window, usage and credit balance here; its unflushed deltas are kept for the next drain, and the caller
 * must `load` it from the store before its next request, or it starts from zero usage and the credits its
 * terms carry. A fresh rate window allows a full `limit` again, so a key evicted mid-window can get up to
 * twice its limit in that window.
 */

/** Options of createLimitBook. */
export interface LimitBookOptions {
  /** Keys held at most; the least recently used is evicted past it. */
  maxKeys: number;
}

/** The book; see createLimitBook. `now` is ms since the epoch, `cost` a positive integer. */
export interface LimitBook {
  /** Decides a request of `cost` and, unless it is denied or a dry run, consumes it from every limit. */
  consume(keyId: string, limits: EnforcedLimits, cost: number, now: number, dryRun?: boolean): LimitDecision;
  /**
   * Takes `units` from every limit of the key as `units` requests of cost 1 counted now would (a lease,
   * limit-lease.ts), without counting them as requests: the process that spends them tallies those.
   * Takes nothing when a limit has not that much room. Returns the time the units were counted at (the
   * lease's grantedAt: its rate sub-bucket), or undefined when nothing was taken.
   */
  take(keyId: string, limits: EnforcedLimits, units: number, now: number): number | undefined;
  /**
   * Gives back `units` that `take` counted at `grantedAt` under `limits` and that were never spent: the
   * rate sub-bucket of `grantedAt` if the window still holds it, the quota if still in that month, the
   * credits if still the same setting and refill period of the balance. Its deltas go below zero.
   */
  refund(keyId: string, limits: EnforcedLimits, units: number, grantedAt: number, now: number): void;
  /** Counts a request denied for another reason (scope, address) once the key was identified. */
  countDenied(keyId: string, limits: EnforcedLimits, now: number): void;
  /** Whether the book holds the key. */
  has(keyId: string): boolean;
  /**
   * Whether the key must be `load`ed before `consume`: it has a quota or credits (state that outlives the
   * process) and the book holds it not loaded, or holds another setting of its balance than its terms
   * (set anew by an update). Keys with only a rate limit never need it: their window lives in memory alone.
   */
  needsLoad(keyId: string, limits: EnforcedLimits): boolean;
  /**
   * Seeds a key from the store, replacing what the book held for it; its deltas not yet drained are kept
   * and added to what the store says. Read the store after the last drain's flush has finished, or the
   * drained deltas are missing from both.
   */
  load(keyId: string, persisted: PersistedUsage, limits: EnforcedLimits, now: number): void;
  /** Drops a key (its terms changed: reload it); its unflushed deltas are kept for the next drain. */
  forget(keyId: string): void;
  /** The deltas since the last drain, each for one key and one UTC day. */
  drain(): UsageDelta[];
  /** The counts the book holds for a key as of `now`, for GetKey answers and tests. */
  usage(keyId: string, now: number): UsageCounts | undefined;
}

interface Entry {
  readonly keyId: string;
  window: RateWindow | undefined;
  day: number;
  requestsToday: number;
  requestsThisMonth: number;
  deniedThisMonth: number;
  quotaUsedThisMonth: number;
  lastUsedTime: number | undefined;
  credits: number;
  /** Start of the refill period the balance belongs to. */
  creditsPeriod: number;
  /** What changed today since the last drain. */
  pending: UsageDelta;
  /** Seeded from the store by `load`. */
  loaded: boolean;
  /** The setting of the balance `credits` counts from (Credits.setTime). */
  creditsSetTime: number | undefined;
}

/** An empty book; the clock is the `now` passed to each call. */
export function createLimitBook(options: LimitBookOptions): LimitBook {
  // A Map iterates in insertion order: re-inserting on use keeps the least recently used first.
  const entries = new Map<string, Entry>();
  // Entries whose `pending` has changes, so that a drain does not walk every key.
  const dirty = new Set<Entry>();
  // Deltas closed by a day boundary, an eviction or a forget, waiting for the next drain.
  const outbox: UsageDelta[] = [];
  const rate: RateDecision = { allowed: false, remaining: 0, resetTime: 0, retryAfterMs: 0 };

  function close(entry: Entry): void {
    if (dirty.delete(entry) && hasChanges(entry.pending)) outbox.push(entry.pending);
    entry.pending = emptyDelta(entry.keyId, entry.day);
  }

  function remove(keyId: string): void {
    const entry = entries.get(keyId);
    if (entry === undefined) return;
    entries.delete(keyId);
    close(entry);
  }

  function insert(entry: Entry): void {
    entries.set(entry.keyId, entry);
    if (entries.size > options.maxKeys) remove(entries.keys().next().value as string);
  }

  function entryFor(keyId: string, limits: EnforcedLimits, now: number): Entry {
    let entry = entries.get(keyId);
    if (entry === undefined) {
      entry = fresh(keyId, limits, now);
      insert(entry);
    } else {
      entries.delete(keyId);
      entries.set(keyId, entry);
    }
    roll(entry, limits, now);
    return entry;
  }

  // Starts a new day (and month) and refills credits once `now` has passed their boundaries.
  function roll(entry: Entry, limits: EnforcedLimits, now: number): void {
    const today = dayStart(now);
    if (today > entry.day) {
      if (monthStart(today) > monthStart(entry.day)) {
        entry.requestsThisMonth = 0;
        entry.deniedThisMonth = 0;
        entry.quotaUsedThisMonth = 0;
      }
      entry.requestsToday = 0;
      close(entry);
      entry.day = today;
      entry.pending.day = today;
    }
    const refill = limits.credits?.refill;
    if (refill !== undefined) {
      const period = periodStart(now, refill.interval);
      if (period > entry.creditsPeriod) {
        entry.credits = refill.amount;
        entry.creditsPeriod = period;
        entry.pending.creditsRefilledAt = period;
        entry.pending.creditsSpent = 0;
        if (entry.creditsSetTime !== undefined) entry.pending.creditsSetTime = entry.creditsSetTime;
        dirty.add(entry);
      }
    }
    // A changed window length starts a fresh window; a changed limit applies to the counts held.
    const windowMs = limits.rateLimit?.windowMs;
    if (windowMs === undefined) entry.window = undefined;
    else if (entry.window?.windowMs !== windowMs) entry.window = createRateWindow(windowMs);
  }

  function deny(
    entry: Entry,
    decision: LimitDecision,
    reason: LimitDecision["reason"],
    wait: number | undefined,
    dryRun: boolean,
    cost: number,
  ) {
    decision.reason = reason;
    // The limits checked before the refusing one were reported as if the request were taken; it is not.
    if (reason !== "rate_limited" && decision.rateLimit !== undefined) decision.rateLimit.remaining += cost;
    if (reason === "credits_exhausted" && decision.quota !== undefined) decision.quota.remaining += cost;
    if (wait !== undefined && Number.isFinite(wait)) decision.retryAfterMs = wait;
    if (!dryRun) {
      entry.deniedThisMonth++;
      entry.pending.denied++;
      dirty.add(entry);
    }
    return decision;
  }

  return {
    consume(keyId, limits, cost, now, dryRun = false) {
      const entry = entryFor(keyId, limits, now);
      const decision: LimitDecision = { reason: "allowed" };
      const rateLimit = limits.rateLimit;
      if (rateLimit !== undefined && entry.window !== undefined) {
        // Decided as a dry run: the request is counted only once quota and credits allow it too.
        checkRate(entry.window, rateLimit.limit, now, cost, true, rate);
        decision.rateLimit = { limit: rateLimit.limit, remaining: rate.remaining, resetTime: rate.resetTime };
        if (!rate.allowed) return deny(entry, decision, "rate_limited", rate.retryAfterMs, dryRun, cost);
      }
      const quota = limits.monthlyQuota;
      if (quota > 0) {
        const fits = entry.quotaUsedThisMonth + cost <= quota;
        const resetTime = nextMonthStart(now);
        const used = entry.quotaUsedThisMonth + (fits ? cost : 0);
        decision.quota = { limit: quota, remaining: Math.max(0, quota - used), resetTime };
        if (!fits)
          return deny(
            entry,
            decision,
            "quota_exceeded",
            cost > quota ? undefined : resetTime - now,
            dryRun,
            cost,
          );
      }
      const credits = limits.credits;
      if (credits !== undefined) {
        const fits = entry.credits >= cost;
        decision.creditsRemaining = fits ? entry.credits - cost : entry.credits;
        if (!fits) {
          const refill = credits.refill;
          const never = refill === undefined || cost > refill.amount;
          return deny(
            entry,
            decision,
            "credits_exhausted",
            never ? undefined : nextRefill(now, refill.interval) - now,
            dryRun,
            cost,
          );
        }
      }
      if (dryRun) return decision;
      if (rateLimit !== undefined && entry.window !== undefined)
        checkRate(entry.window, rateLimit.limit, now, cost, false, rate);
      entry.requestsToday++;
      entry.requestsThisMonth++;
      entry.quotaUsedThisMonth += cost;
      entry.lastUsedTime = now;
      const p = entry.pending;
      p.requests++;
      p.quotaCost += cost;
      p.lastUsedTime = now;
      if (credits !== undefined) spendCredits(entry, cost);
      dirty.add(entry);
      return decision;
    },
    take(keyId, limits, units, now) {
      const entry = entryFor(keyId, limits, now);
      const { rateLimit, monthlyQuota, credits } = limits;
      const window = rateLimit === undefined ? undefined : entry.window;
      if (window !== undefined && !checkRate(window, rateLimit?.limit ?? 0, now, units, true, rate).allowed)
        return undefined;
      if (monthlyQuota > 0 && entry.quotaUsedThisMonth + units > monthlyQuota) return undefined;
      if (credits !== undefined && entry.credits < units) return undefined;
      if (window !== undefined) checkRate(window, rateLimit?.limit ?? 0, now, units, false, rate);
      entry.quotaUsedThisMonth += units;
      entry.pending.quotaCost += units;
      if (credits !== undefined) spendCredits(entry, units);
      dirty.add(entry);
      // A clock that stepped back counts in the newest bucket, which the refund must find again.
      return window === undefined ? now : Math.max(now, window.newest * window.widthMs);
    },
    refund(keyId, limits, units, grantedAt, now) {
      let entry = entries.get(keyId);
      if (entry === undefined) {
        // Evicted since: the negative delta still has to reach the store, and a load replays it.
        entry = fresh(keyId, limits, now);
        insert(entry);
      }
      // No roll(): `limits` are the lease's terms, maybe no longer the key's, and rolling to them would
      // start a fresh window over the counts made under the new terms.
      const window = entry.window;
      if (window !== undefined && window.windowMs === limits.rateLimit?.windowMs)
        uncount(window, grantedAt, units);
      if (monthStart(entry.day) === monthStart(grantedAt)) {
        entry.quotaUsedThisMonth -= units;
        entry.pending.quotaCost -= units;
      }
      if (
        limits.credits !== undefined &&
        entry.creditsSetTime === limits.credits.setTime &&
        entry.creditsPeriod <= grantedAt
      )
        spendCredits(entry, -units);
      dirty.add(entry);
    },
    countDenied(keyId, limits, now) {
      const entry = entryFor(keyId, limits, now);
      entry.deniedThisMonth++;
      entry.pending.denied++;
      dirty.add(entry);
    },
    has: (keyId) => entries.has(keyId),
    needsLoad(keyId, limits) {
      if (limits.monthlyQuota === 0 && limits.credits === undefined) return false;
      const entry = entries.get(keyId);
      return entry === undefined || !entry.loaded || entry.creditsSetTime !== limits.credits?.setTime;
    },
    load(keyId, persisted, limits, now) {
      remove(keyId);
      const entry = fresh(keyId, limits, now);
      if (monthStart(persisted.day) === monthStart(entry.day)) {
        entry.requestsThisMonth = persisted.requestsThisMonth;
        entry.deniedThisMonth = persisted.deniedThisMonth;
        entry.quotaUsedThisMonth = persisted.quotaUsedThisMonth;
        if (persisted.day === entry.day) entry.requestsToday = persisted.requestsToday;
      }
      entry.lastUsedTime = persisted.lastUsedTime;
      entry.loaded = true;
      if (persisted.creditsRemaining !== undefined) entry.credits = persisted.creditsRemaining;
      entry.creditsSetTime = persisted.creditsSetTime ?? limits.credits?.setTime;
      if (persisted.creditsRefilledAt !== undefined) entry.creditsPeriod = persisted.creditsRefilledAt;
      // The store has not seen the deltas still waiting for a drain: count them again here (in order).
      for (const delta of outbox) if (delta.keyId === keyId) replay(entry, delta, limits);
      insert(entry);
      roll(entry, limits, now);
    },
    forget: remove,
    drain() {
      for (const entry of dirty) close(entry);
      return outbox.splice(0);
    },
    usage(keyId, now) {
      const entry = entries.get(keyId);
      if (entry === undefined) return undefined;
      const today = dayStart(now);
      const sameMonth = monthStart(today) === monthStart(entry.day);
      const counts: UsageCounts = {
        requestsToday: today === entry.day ? entry.requestsToday : 0,
        requestsThisMonth: sameMonth ? entry.requestsThisMonth : 0,
        deniedThisMonth: sameMonth ? entry.deniedThisMonth : 0,
      };
      if (entry.lastUsedTime !== undefined) counts.lastUsedTime = entry.lastUsedTime;
      return counts;
    },
  };
}

// Spends from the balance (gives back when `cost` is negative) and says so in the pending delta.
function spendCredits(entry: Entry, cost: number): void {
  entry.credits -= cost;
  entry.pending.creditsSpent += cost;
  if (entry.creditsSetTime !== undefined) entry.pending.creditsSetTime = entry.creditsSetTime;
}

// Adds a delta the store has not seen to an entry seeded from the store.
function replay(entry: Entry, delta: UsageDelta, limits: EnforcedLimits): void {
  if (monthStart(delta.day) === monthStart(entry.day)) {
    entry.requestsThisMonth += delta.requests;
    entry.deniedThisMonth += delta.denied;
    entry.quotaUsedThisMonth += delta.quotaCost;
    if (delta.day === entry.day) entry.requestsToday += delta.requests;
  }
  if (delta.lastUsedTime !== undefined && !((entry.lastUsedTime ?? -1) >= delta.lastUsedTime)) {
    entry.lastUsedTime = delta.lastUsedTime;
  }
  // Spending from a balance since set anew is gone with it (the store drops it too).
  if (delta.creditsSetTime !== entry.creditsSetTime) return;
  const refill = limits.credits?.refill;
  if (
    refill !== undefined &&
    delta.creditsRefilledAt !== undefined &&
    delta.creditsRefilledAt > entry.creditsPeriod
  ) {
    entry.credits = refill.amount;
    entry.creditsPeriod = delta.creditsRefilledAt;
  }
  entry.credits -= delta.creditsSpent;
}

function fresh(keyId: string, limits: EnforcedLimits, now: number): Entry {
  const refill = limits.credits?.refill;
  const day = dayStart(now);
  return {
    keyId,
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
    loaded: false,
    creditsSetTime: limits.credits?.setTime,
  };
}
