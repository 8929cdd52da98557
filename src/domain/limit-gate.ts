import type { Clock } from "./clock.js";
import type { KeyLimits } from "./key-limits.js";
import type { LimitBook } from "./limit-book.js";
import type { EnforcedLimits, LimitDecision } from "./limit-decision.js";
import { consumeLeasing, type LeasedDecision } from "./limit-lease.js";
import type { MaybePromise } from "./maybe-promise.js";
import type { TierTable } from "./tiers.js";
import { StoreError } from "./unavailable.js";
import type { PersistedUsage } from "./usage-delta.js";

/**
 * Where a decision counts a key's use against its limits: the one limit book that all of a server's
 * processes share. In a single process that is a book in memory, answered synchronously; with several
 * workers the primary holds it and a worker asks it (process/limit-client.ts), so that a limit holds
 * for the key as a whole, not per worker.
 */
export interface LimitGate {
  /** Decides a request of `cost` and, unless it is refused or a dry run, consumes it. */
  consume(keyId: string, limits: EnforcedLimits, cost: number, dryRun: boolean): MaybePromise<LimitDecision>;
  /** Gives back what the gate holds (a worker's leases) once no more decisions will come. */
  close?(): Promise<void>;
  /**
   * True while rate limits are enforced per replica, each its share, because the rate windows that
   * replicas share (Redis) cannot be reached; absent or false otherwise (process/server-limit-gate.ts).
   */
  local?(): boolean;
}

/** The book's gate as the cluster primary uses it: it also grants and takes back leases (limit-lease.ts). */
export interface LeasingGate extends LimitGate {
  /** `consume`, not a dry run, with a lease for one of `workers` workers when the key is far below its limits. */
  consumeLeasing(
    keyId: string,
    limits: EnforcedLimits,
    cost: number,
    workers: number,
  ): MaybePromise<LeasedDecision>;
  /** Gives back a lease's unspent units (LimitBook.refund). */
  release(keyId: string, limits: EnforcedLimits, units: number, grantedAt: number): void;
}

/**
 * What a key is held to now: its own rate limit, else its tier's, its monthly quota and its credits.
 * Undefined when nothing applies, so that such a key costs the decision nothing. Every tier a live key
 * names is in the table: IssueKey and UpdateKey refuse unknown tiers, and start-up refuses a table that
 * lacks one in use (missingTiersError).
 */
export function enforcedLimits(terms: KeyLimits, tiers: TierTable): EnforcedLimits | undefined {
  // Kept per terms object: terms are shared by keys and replaced when they change (store/hot-lookup.ts),
  // so a counted decision allocates nothing here, and a worker's lease recognises its limits by identity.
  let byTerms = enforcedByTiers.get(tiers);
  if (byTerms === undefined) {
    byTerms = new WeakMap();
    enforcedByTiers.set(tiers, byTerms);
  }
  let enforced = byTerms.get(terms);
  if (enforced === undefined) {
    const rateLimit = terms.rateLimit ?? (terms.tier === "" ? undefined : tiers.get(terms.tier));
    enforced =
      rateLimit === undefined && terms.monthlyQuota === 0 && terms.credits === undefined
        ? null
        : { rateLimit, monthlyQuota: terms.monthlyQuota, credits: terms.credits };
    byTerms.set(terms, enforced);
  }
  return enforced ?? undefined;
}

const enforcedByTiers = new WeakMap<TierTable, WeakMap<KeyLimits, EnforcedLimits | null>>();

const READ_ATTEMPTS = 5;

/** Reads what the store holds of a key's usage, to seed the book with. */
export type UsageReader = (keyId: string, now: number) => Promise<PersistedUsage>;

/** The write-behind flush of the book, as the gate must know it (process/usage-flush.ts). */
export interface FlushProgress {
  /** Resolves once no flush is in progress. */
  flushed(): Promise<void>;
  /** How many flushes have started so far. */
  started(): number;
}

/**
 * A gate on a book held in this process. A key with a quota or credits is read from the store on its
 * first use (and after its credits are set anew): one read per key, shared by the requests that wait
 * for it. A flush takes counts out of the book before the store has them, so a read is taken only if
 * no flush was running or started while it ran; otherwise it is read again. Everything else is
 * answered synchronously.
 */
export function bookGate(
  book: LimitBook,
  clock: Clock,
  read: UsageReader,
  flush: FlushProgress,
): LeasingGate {
  const settledRead = async (keyId: string): Promise<PersistedUsage> => {
    // Bounded: flushes come at most every KEYWARD_USAGE_FLUSH, so a second read all but always settles.
    for (let attempt = 0; attempt < READ_ATTEMPTS; attempt++) {
      await flush.flushed();
      const before = flush.started();
      const persisted = await read(keyId, clock.now());
      if (flush.started() === before) return persisted;
    }
    throw new Error(`usage flushes kept overlapping the read (${READ_ATTEMPTS} attempts)`);
  };
  const loading = new Map<string, Promise<void>>();
  const load = (keyId: string, limits: EnforcedLimits): Promise<void> => {
    let pending = loading.get(keyId);
    if (pending === undefined) {
      pending = settledRead(keyId)
        .then(
          (persisted) => book.load(keyId, persisted, limits, clock.now()),
          (error: unknown) => {
            throw new StoreError("read a key's usage", error);
          },
        )
        .finally(() => loading.delete(keyId));
      loading.set(keyId, pending);
    }
    return pending;
  };
  // Runs `decide` on the key loaded, in the same turn as the check: nothing can evict it in between.
  const loaded = <T>(keyId: string, limits: EnforcedLimits, decide: () => T): MaybePromise<T> =>
    book.needsLoad(keyId, limits) ? load(keyId, limits).then(decide) : decide();
  return {
    consume: (keyId, limits, cost, dryRun) =>
      loaded(keyId, limits, () => book.consume(keyId, limits, cost, clock.now(), dryRun)),
    consumeLeasing: (keyId, limits, cost, workers) =>
      loaded(keyId, limits, () => consumeLeasing(book, keyId, limits, cost, clock.now(), workers)),
    // No load: a refund of a key the book does not hold is a negative delta that a later load replays.
    release: (keyId, limits, units, grantedAt) => book.refund(keyId, limits, units, grantedAt, clock.now()),
  };
}
