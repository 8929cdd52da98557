import { LRUCache } from "lru-cache";
import type { Clock } from "../domain/clock.js";
import type { VerifiedKey } from "../domain/key.js";
import { digestOfHash, hashOfDigest } from "../domain/key-hash.js";
import type { KeyResolver } from "../domain/key-resolver.js";
import type { MaybePromise } from "../domain/maybe-promise.js";

export interface KeyCacheOptions {
  /** Reads a key by hash from the store; called on a miss, once per hash at a time. May answer synchronously. */
  readonly load: (keyHash: string) => MaybePromise<VerifiedKey | undefined>;
  /** Most verified keys held. */
  readonly maxKeys: number;
  /** Backstop for staleness when another process changed a key; local changes evict at once. */
  readonly ttlMs: number;
  /** Most hashes remembered as absent. */
  readonly maxMissing: number;
  /** How long a hash is remembered as absent, so a flood of bogus keys does not reach the store. */
  readonly missingTtlMs: number;
  readonly clock: Clock;
}

/**
 * A KeyResolver that remembers, by digest (see digestKey), verified keys (up to maxKeys, for
 * ttlMs), hashes found absent (up to maxMissing, for missingTtlMs) and the loads in flight. A key's
 * entries are forgotten by evict() (cachedKeyStore after a change, or the invalidation bus for
 * another process's change), all of them by clear(), and otherwise by the LRU bounds and TTLs.
 * Loads and evictions speak the store's hex hash.
 */
export interface KeyCache extends KeyResolver {
  /** Forgets everything about a stored hash, including a load in flight; call after any change to its key. */
  evict(keyHash: string): void;
  clear(): void;
  /**
   * While set, an entry verified (or found absent) more than `maxAgeMs` ago counts as expired:
   * the replica has lost the notices of other replicas' changes (cache/replica-listener.ts), so
   * what it holds is trusted for this long at most, whatever the TTLs. undefined trusts again.
   */
  limitAge(maxAgeMs: number | undefined): void;
  /** The bound limitAge set, or undefined while the cache is trusted for its TTLs. */
  readonly maxAgeMs: number | undefined;
  readonly size: { readonly keys: number; readonly missing: number };
  /** Counts since start, for the metrics (read when scraped; plain numbers, nothing per call but `++`). */
  readonly stats: CacheStats;
}

/** What a key cache has answered and forgotten since it was made. */
export interface CacheStats {
  /** Resolved from a verified key held. */
  hits: number;
  /** Resolved as absent from a hash remembered as such. */
  absentHits: number;
  /** Went to the store (or joined a read of it already in flight). */
  misses: number;
  /** Entries forgotten, of verified keys and of hashes remembered as absent. */
  readonly evicted: { readonly keys: EvictionCounts; readonly absent: EvictionCounts };
}

/** Entries forgotten, by cause. */
export interface EvictionCounts {
  /** Their key changed: evict(), or clear() (every entry held). */
  changed: number;
  /** Pushed out by the LRU bound (maxKeys, maxMissing) to make room. */
  capacity: number;
  /** Found past their TTL, or past the age limit of limitAge(), when looked up. */
  expired: number;
}

const noEvictions = (): EvictionCounts => ({ changed: 0, capacity: 0, expired: 0 });

/** lru-cache's removals, counted by cause; deletions are counted where they are made. */
function countRemovals(counts: EvictionCounts) {
  return (_value: unknown, _key: string, reason: LRUCache.DisposeReason): void => {
    if (reason === "evict") counts.capacity++;
    else if (reason === "expire") counts.expired++;
  };
}

export function createKeyCache(options: KeyCacheOptions): KeyCache {
  const perf = { now: () => options.clock.now() };
  const stats: CacheStats = {
    hits: 0,
    absentHits: 0,
    misses: 0,
    evicted: { keys: noEvictions(), absent: noEvictions() },
  };
  const known = new LRUCache<string, VerifiedKey>({
    max: options.maxKeys,
    ttl: options.ttlMs,
    perf,
    ttlResolution: 0,
    dispose: countRemovals(stats.evicted.keys),
  });
  const missing = new LRUCache<string, true>({
    max: options.maxMissing,
    ttl: options.missingTtlMs,
    perf,
    ttlResolution: 0,
    dispose: countRemovals(stats.evicted.absent),
  });
  const loading = new Map<string, Promise<VerifiedKey | undefined>>();
  // Bumped by every eviction: a load that started before one may not fill the cache,
  // or a revoke racing with a miss could leave the pre-revoke record cached.
  let epoch = 0;
  let maxAgeMs: number | undefined;

  /** Whether an entry of `cache` (whose entries all live `ttl`) is older than the age limit; forgets it if so. */
  function tooOld<V extends {}>(
    cache: LRUCache<string, V>,
    ttl: number,
    digest: string,
    counts: EvictionCounts,
  ): boolean {
    if (maxAgeMs === undefined || ttl - cache.getRemainingTTL(digest) <= maxAgeMs) return false;
    cache.delete(digest);
    counts.expired++;
    return true;
  }

  function remember(digest: string, found: VerifiedKey | undefined): VerifiedKey | undefined {
    if (found === undefined) missing.set(digest, true);
    else known.set(digest, found);
    return found;
  }

  function load(digest: string): MaybePromise<VerifiedKey | undefined> {
    const read = options.load(hashOfDigest(digest));
    // A synchronous read (SQLite) saw the store as it is now: no eviction can have come between.
    if (!(read instanceof Promise)) return remember(digest, read);
    const startEpoch = epoch;
    const pending = read.then(
      (found) => {
        if (loading.get(digest) === pending) loading.delete(digest);
        return epoch === startEpoch ? remember(digest, found) : found;
      },
      (error: unknown) => {
        if (loading.get(digest) === pending) loading.delete(digest);
        throw error;
      },
    );
    loading.set(digest, pending);
    return pending;
  }

  return {
    resolve(digest) {
      const hit = known.get(digest);
      if (
        hit !== undefined &&
        !(maxAgeMs !== undefined && tooOld(known, options.ttlMs, digest, stats.evicted.keys))
      ) {
        stats.hits++;
        return hit;
      }
      if (
        missing.get(digest) !== undefined &&
        !(maxAgeMs !== undefined && tooOld(missing, options.missingTtlMs, digest, stats.evicted.absent))
      ) {
        stats.absentHits++;
        return undefined;
      }
      stats.misses++;
      return loading.get(digest) ?? load(digest);
    },
    evict(keyHash) {
      const digest = digestOfHash(keyHash);
      epoch++;
      if (known.delete(digest)) stats.evicted.keys.changed++;
      if (missing.delete(digest)) stats.evicted.absent.changed++;
      loading.delete(digest);
    },
    clear() {
      epoch++;
      stats.evicted.keys.changed += known.size;
      stats.evicted.absent.changed += missing.size;
      known.clear();
      missing.clear();
      loading.clear();
    },
    limitAge(ms) {
      maxAgeMs = ms;
    },
    get maxAgeMs() {
      return maxAgeMs;
    },
    get size() {
      return { keys: known.size, missing: missing.size };
    },
    stats,
  };
}
