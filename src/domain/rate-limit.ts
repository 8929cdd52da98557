/**
 * A key's rate limit: at most `limit` request cost in any window of `windowMs`, counted in a sliding
 * window of sub-buckets (issue 12: "no boundary bursts").
 *
 * Why not GCRA: GCRA with a burst of `limit` (what lets a free-tier client make 10 calls at once) refills
 * continuously, so after the burst it admits one more call every `windowMs / limit` and lets through
 * 2 × limit − 1 in a window of `windowMs` (10 at t=0, then 9 more by t=54 s for 10/min). Only a sliding
 * count meets "never more than the limit in any window". An exact sliding log needs one timestamp per
 * allowed request (10,000 per hot key on a 10,000/min tier); sub-buckets need a fixed `BUCKETS + 1`
 * counters whatever the limit, at the price of a bounded over-count.
 *
 * The guarantees, for a request of cost c at time t, with A(L) the cost allowed in (t − L, t] and
 * g = bucketWidthMs(windowMs) (test/domain/rate-limit.test.ts checks both against a reference log):
 * - allowed ⇒ A(windowMs) + c ≤ limit: never more than `limit` in any window of `windowMs`, exactly (even
 *   counting both ends: a request at exactly t − windowMs still counts);
 * - denied ⇒ A(windowMs + g) + c > limit: a denial is wrongful only because of requests allowed in the
 *   g ms just before the window, so a denied caller waits at most g longer than an exact limiter makes it.
 * A cost above `limit` is always denied, and retrying never helps (`retryAfterMs` is Infinity).
 *
 * Times are integer milliseconds and every quantity is an integer below 2^53, so nothing drifts.
 */

/** Sub-buckets per window: the wrongful-denial margin is one of them (1 s for a one-minute window). */
export const BUCKETS = 60;

/** One key's counters; created by createRateWindow and mutated by checkRate. */
export interface RateWindow {
  readonly windowMs: number;
  /** Width of a sub-bucket in ms (bucketWidthMs). */
  readonly widthMs: number;
  /**
   * Cost allowed per sub-bucket (bucket i covers [i·g, (i+1)·g)), a ring whose slot `head` holds bucket
   * `newest` and the slots before it (wrapping) the older ones. Doubles, since a limit may pass 2^32;
   * integers stay exact to 2^53.
   */
  readonly counts: Float64Array;
  head: number;
  /** Index of the newest bucket the ring holds; older buckets down to newest − counts.length + 1 are kept. */
  newest: number;
  /** The newest bucket that holds a count: when it leaves the window, everything has. */
  lastCounted: number;
  /** Sum of `counts`. */
  total: number;
}

/** What checkRate decided; the caller reads it before the next call, which overwrites it. */
export interface RateDecision {
  allowed: boolean;
  /** Cost that could still be allowed now (after this request, when it was allowed). */
  remaining: number;
  /** When everything counted now has left the window and `remaining` is back to `limit` (ms since the epoch). */
  resetTime: number;
  /** 0 when allowed; else the wait before the same request would be allowed (Infinity when cost > limit). */
  retryAfterMs: number;
}

/** The sub-bucket width for a window: at least 1 ms, at most windowMs / BUCKETS rounded up. */
export function bucketWidthMs(windowMs: number): number {
  return Math.max(1, Math.ceil(windowMs / BUCKETS));
}

/** An empty window for a rate limit of the given length (a positive integer of ms). */
export function createRateWindow(windowMs: number): RateWindow {
  const widthMs = bucketWidthMs(windowMs);
  // Buckets that can meet (t − windowMs, t]: the one holding t and ceil(windowMs / g) before it.
  const counts = new Float64Array(Math.ceil(windowMs / widthMs) + 1);
  const never = Number.NEGATIVE_INFINITY;
  return { windowMs, widthMs, counts, head: 0, newest: never, lastCounted: never, total: 0 };
}

/**
 * Decides a request of `cost` at `now` against `limit` per `window.windowMs` and, when it is allowed and
 * not a dry run, counts it. A denied request counts nothing. `cost` is a positive integer (the edge turns
 * an unset cost into 1). `out` is reused so that the hot path does not
 * allocate; a clock that steps back is treated as standing still.
 */
export function checkRate(
  window: RateWindow,
  limit: number,
  now: number,
  cost: number,
  dryRun = false,
  out: RateDecision = { allowed: false, remaining: 0, resetTime: 0, retryAfterMs: 0 },
): RateDecision {
  const { counts, widthMs, windowMs } = window;
  const size = counts.length;
  advance(window, Math.floor(now / widthMs));
  const t = Math.max(now, window.newest * widthMs);
  // The lowest bucket that still meets (t − windowMs, t]; only the ring's oldest slot can be below it.
  const lowest = Math.floor((t - windowMs) / widthMs);
  const oldest = window.newest - size + 1;
  const oldestSlot = window.head + 1 === size ? 0 : window.head + 1;
  const counted = window.total - (oldest < lowest ? (counts[oldestSlot] as number) : 0);
  const allowed = cost <= limit && counted + cost <= limit;
  if (allowed && !dryRun) {
    counts[window.head] = (counts[window.head] as number) + cost;
    window.total += cost;
    window.lastCounted = window.newest;
  }
  const used = allowed ? counted + cost : counted;
  out.allowed = allowed;
  // Below zero only after the limit was lowered under what the window already holds.
  out.remaining = Math.max(0, limit - used);
  // An allowed request sits in the newest bucket, so everything is gone when that bucket leaves.
  out.resetTime = allowed
    ? expiry(window, window.newest)
    : used === 0
      ? now
      : expiry(window, window.lastCounted);
  out.retryAfterMs = allowed
    ? 0
    : cost > limit
      ? Number.POSITIVE_INFINITY
      : expiryOfFirst(window, lowest, counted + cost - limit) - now;
  if (out.retryAfterMs < 0) out.retryAfterMs = 0;
  return out;
}

/**
 * Takes back up to `cost` counted in the bucket holding time `at` (a lease's unspent units, see
 * limit-lease.ts), if the ring still holds that bucket; what has left the ring needs no refund. Never
 * takes more than the bucket holds, so a refund cannot free room that other requests were counted in.
 */
export function uncount(window: RateWindow, at: number, cost: number): void {
  const bucket = Math.floor(at / window.widthMs);
  const size = window.counts.length;
  if (bucket > window.newest || bucket <= window.newest - size) return;
  let slot = window.head - (window.newest - bucket);
  if (slot < 0) slot += size;
  const taken = Math.min(cost, window.counts[slot] as number);
  window.counts[slot] = (window.counts[slot] as number) - taken;
  window.total -= taken;
}

/** Moves the ring forward to bucket `current`, emptying the buckets it passes. */
function advance(window: RateWindow, current: number): void {
  const steps = current - window.newest;
  if (!(steps > 0)) return;
  const { counts } = window;
  const size = counts.length;
  if (steps >= size) {
    counts.fill(0);
    window.total = 0;
    window.head = 0;
  } else {
    // Stepping the slot instead of taking `bucket % size`: a bucket index is a double, and its modulo
    // is a library call that made a denial (which walks the ring) cost microseconds.
    let s = window.head;
    for (let k = 0; k < steps; k++) {
      s = s + 1 === size ? 0 : s + 1;
      window.total -= counts[s] as number;
      counts[s] = 0;
    }
    window.head = s;
  }
  window.newest = current;
}

/** Bucket i stops counting once floor((t − windowMs) / g) > i, i.e. from t = (i + 1)·g + windowMs. */
function expiry(window: RateWindow, bucket: number): number {
  return (bucket + 1) * window.widthMs + window.windowMs;
}

/** When, oldest bucket first, enough counted cost has left the window to free `needed`. */
function expiryOfFirst(window: RateWindow, lowest: number, needed: number): number {
  const { counts, head, newest } = window;
  const size = counts.length;
  const first = Math.max(lowest, newest - size + 1);
  let s = head - (newest - first);
  if (s < 0) s += size;
  let freed = 0;
  for (let i = first; i <= newest; i++) {
    freed += counts[s] as number;
    if (freed >= needed) return expiry(window, i);
    s = s + 1 === size ? 0 : s + 1;
  }
  return expiry(window, newest);
}
