/**
 * The usage counts the limit book keeps per key, as they go to the store (UsageDelta, in a write-behind
 * flush) and come back from it (PersistedUsage). Deltas rather than totals, so that several instances
 * can add to the same row; one delta never spans two UTC days, so the store can tell which day and
 * month each count belongs to.
 */

/** A key's counts as of a time (the proto KeyUsage). */
export interface UsageCounts {
  requestsToday: number;
  requestsThisMonth: number;
  deniedThisMonth: number;
  lastUsedTime?: number;
}

/** Usage read back from the store, to seed a key the book does not hold. */
export interface PersistedUsage {
  /** Start of the UTC day the counts were last written for: day counts of another day, month counts of another month are dropped. */
  readonly day: number;
  readonly requestsToday: number;
  readonly requestsThisMonth: number;
  readonly deniedThisMonth: number;
  /** Cost counted against the monthly quota this month (equal to requestsThisMonth while every cost is 1). */
  readonly quotaUsedThisMonth: number;
  readonly lastUsedTime?: number | undefined;
  /**
   * Start of the refill period the stored `credits.remaining` belongs to. The store keeps it: periodStart
   * of the time credits are issued or set, then each applied delta's `creditsRefilledAt`. Unset means the
   * current period, so a key loaded after a boundary without it misses that refill.
   */
  readonly creditsRefilledAt?: number | undefined;
  /** The stored balance; undefined for a key without credits (the book then takes its terms'). */
  readonly creditsRemaining?: number | undefined;
  /** Which setting of the balance it is (Credits.setTime). */
  readonly creditsSetTime?: number | undefined;
}

/**
 * What changed for one key in one UTC day since the last drain. The store adds the counts to the day and
 * month that `day` falls in. Credits: when `creditsRefilledAt` is set, the balance was refilled to the
 * refill amount at that time and `creditsSpent` is what was spent since; otherwise subtract `creditsSpent`.
 */
export interface UsageDelta {
  keyId: string;
  /** Start of the UTC day. */
  day: number;
  /** Allowed requests. */
  requests: number;
  /** Denied requests (any reason once the key was identified). */
  denied: number;
  /** Cost of the allowed requests, counted against the monthly quota; below zero when a lease's unspent units came back (limit-lease.ts). */
  quotaCost: number;
  /** Below zero, like quotaCost, after a refund. */
  creditsSpent: number;
  creditsRefilledAt?: number;
  /** The setting of the balance the credits were spent from (Credits.setTime): spending from a balance since set anew is dropped. */
  creditsSetTime?: number;
  /** The latest allowed request. */
  lastUsedTime?: number;
}

/** A delta with nothing in it yet. */
export function emptyDelta(keyId: string, day: number): UsageDelta {
  return { keyId, day, requests: 0, denied: 0, quotaCost: 0, creditsSpent: 0 };
}

/** Whether a delta has anything for the store. */
export function hasChanges(delta: UsageDelta): boolean {
  return (
    delta.requests > 0 ||
    delta.denied > 0 ||
    delta.quotaCost !== 0 ||
    delta.creditsSpent !== 0 ||
    delta.creditsRefilledAt !== undefined
  );
}

/**
 * What of a limit book's delta only the book knows: quota cost and credits. Requests, denials and the
 * last use are counted for every key by each process's UsageTally, and written from there alone.
 */
export function limitPart(delta: UsageDelta): UsageDelta {
  const part = emptyDelta(delta.keyId, delta.day);
  part.quotaCost = delta.quotaCost;
  part.creditsSpent = delta.creditsSpent;
  if (delta.creditsRefilledAt !== undefined) part.creditsRefilledAt = delta.creditsRefilledAt;
  if (delta.creditsSetTime !== undefined) part.creditsSetTime = delta.creditsSetTime;
  return part;
}
