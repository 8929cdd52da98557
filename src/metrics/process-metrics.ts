import { collectDefaultMetrics, Registry } from "prom-client";
import { createDecisionMetrics, type EntryPoint, type RecordDecision } from "./decision-metrics.js";
import { HotCounter, HotHistogram, type HotSeries, ReadMetric, type ScrapedMetric } from "./hot-metrics.js";

/** A store call as the metrics tell them apart: the hot path's read of a key, or any other query. */
export type StoreOperation = "key_lookup" | "query";

/** What a key cache counts (cache/key-cache.ts, KeyCache.stats). */
export interface CacheCounts {
  readonly hits: number;
  readonly absentHits: number;
  readonly misses: number;
  /** Entries forgotten, of verified keys and of hashes known absent, by cause. */
  readonly evicted: Readonly<Record<"keys" | "absent", Readonly<Record<EvictionCause, number>>>>;
  readonly keys: number;
  readonly absent: number;
}

/** Why a cache entry was forgotten: its key changed, the LRU bound, or its TTL (or age limit). */
type EvictionCause = "changed" | "capacity" | "expired";
const EVICTION_CAUSES: readonly EvictionCause[] = ["changed", "capacity", "expired"];

/** What a usage flush reports (process/usage-flush.ts). */
export interface FlushCounts {
  /** When the last flush that wrote (or had nothing to write) ended, or the flush started; ms since the epoch. */
  readonly lastFlushedAt: number;
  readonly failures: number;
}

/** One process's registry and the recorders its parts are given. */
export interface ProcessMetrics {
  readonly registry: Registry;
  decisions(entry: EntryPoint): RecordDecision;
  /** A store call that took `seconds`; failed when it threw. */
  store(operation: StoreOperation, seconds: number, failed: boolean): void;
  /** A group commit of `size` units. */
  batch(size: number): void;
  /** One change relayed to every worker (the primary), in seconds from request to every confirmation. */
  relayed(seconds: number): void;
  /** Registers a part read at scrape time. */
  watchCache(counts: () => CacheCounts): void;
  watchUsageFlush(counts: () => FlushCounts): void;
  /** 1 while the replica cannot hear other replicas' changes / while rate limits are local. */
  watchDegraded(invalidation: () => boolean, rateLimits: () => boolean): void;
}

const STORE_SECONDS = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2.5, 10,
];
const BATCH_SIZES = [1, 2, 4, 8, 16, 32, 64, 128, 256];
const RELAY_SECONDS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1, 5];

/**
 * The metrics of one process (issue 15), in a registry of its own: process and Node metrics
 * (prom-client's defaults), `keyward_build_info`, and Keyward's: decisions, their latency, the key
 * cache, the store, group commits, cross-worker invalidations, usage flushes and degraded states.
 * Everything recorded on a request's path is a plain number (hot-metrics.ts); the rest is read when
 * scraped. With workers, the primary merges every process's (metrics/cluster-metrics.ts).
 */
export function createProcessMetrics(version: string, now: () => number = Date.now): ProcessMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const add = (metric: ScrapedMetric) => registry.registerMetric(metric as never);
  add(
    new ReadMetric(
      "keyward_build_info",
      "Keyward's version and the Node.js it runs on (always 1).",
      "gauge",
      () => [{ labels: { version, node: process.version }, value: 1 }],
      "max",
    ),
  );
  const decisions = createDecisionMetrics();
  for (const metric of decisions.metrics) add(metric);

  const storeSeconds = new HotHistogram(
    "keyward_store_query_duration_seconds",
    "Store calls: the hot path's key lookups (cache misses) and every other query.",
    STORE_SECONDS,
  );
  const storeSeries: Record<StoreOperation, HotSeries> = {
    key_lookup: storeSeconds.series({ operation: "key_lookup" }),
    query: storeSeconds.series({ operation: "query" }),
  };
  const storeErrors = new HotCounter("keyward_store_errors_total", "Store calls that failed.", [
    { operation: "key_lookup" },
    { operation: "query" },
  ]);
  const batches = new HotHistogram(
    "keyward_group_commit_batch_size",
    "Units (IssueKey, RevokeKey, …) committed together by one group commit.",
    BATCH_SIZES,
  );
  const batchSeries = batches.series({});
  const relay = new HotHistogram(
    "keyward_invalidation_relay_seconds",
    "From a change's eviction request to every worker's confirmation (the cluster primary).",
    RELAY_SECONDS,
  );
  const relaySeries = relay.series({});
  for (const metric of [storeSeconds, storeErrors, batches, relay]) add(metric);

  return {
    registry,
    decisions: (entry) => decisions.recorder(entry),
    store(operation, seconds, failed) {
      storeSeries[operation].observe(seconds);
      if (!failed) return;
      const at = operation === "key_lookup" ? 0 : 1;
      storeErrors.counts[at] = (storeErrors.counts[at] as number) + 1;
    },
    batch: (size) => batchSeries.observe(size),
    relayed: (seconds) => relaySeries.observe(seconds),
    watchCache(counts) {
      add(
        new ReadMetric(
          "keyward_cache_lookups_total",
          "Key cache lookups, by what answered.",
          "counter",
          () => {
            const c = counts();
            return [
              { labels: { result: "hit" }, value: c.hits },
              { labels: { result: "absent_hit" }, value: c.absentHits },
              { labels: { result: "miss" }, value: c.misses },
            ];
          },
        ),
      );
      add(
        new ReadMetric(
          "keyward_cache_evictions_total",
          "Key cache entries forgotten, by cache (keys, absent) and cause (changed: the key changed here or in another worker or replica; capacity: the LRU bound; expired: the TTL or age limit).",
          "counter",
          () => {
            const { evicted } = counts();
            return (["keys", "absent"] as const).flatMap((cache) =>
              EVICTION_CAUSES.map((cause) => ({ labels: { cache, cause }, value: evicted[cache][cause] })),
            );
          },
        ),
      );
      add(
        new ReadMetric(
          "keyward_cache_entries",
          "Entries held: verified keys and hashes known absent.",
          "gauge",
          () => {
            const c = counts();
            return [
              { labels: { cache: "keys" }, value: c.keys },
              { labels: { cache: "absent" }, value: c.absent },
            ];
          },
        ),
      );
    },
    watchUsageFlush(counts) {
      add(
        new ReadMetric(
          "keyward_usage_flush_age_seconds",
          "Since the last usage flush ended (counts not yet in the store are at most this old, plus one interval).",
          "gauge",
          () => [{ labels: {}, value: Math.max(0, now() - counts().lastFlushedAt) / 1000 }],
          "max",
        ),
      );
      add(
        new ReadMetric(
          "keyward_usage_flush_failures_total",
          "Usage flushes that failed (kept for the next).",
          "counter",
          () => [{ labels: {}, value: counts().failures }],
        ),
      );
    },
    watchDegraded(invalidation, rateLimits) {
      add(
        new ReadMetric(
          "keyward_invalidation_degraded",
          "1 while this replica cannot hear other replicas' changes (cached keys trusted for KEYWARD_STALE_BOUND).",
          "gauge",
          () => [{ labels: {}, value: invalidation() ? 1 : 0 }],
          "max",
        ),
      );
      add(
        new ReadMetric(
          "keyward_rate_limits_local",
          "1 while Redis cannot be reached and each replica enforces its share of every rate limit.",
          "gauge",
          () => [{ labels: {}, value: rateLimits() ? 1 : 0 }],
          "max",
        ),
      );
    },
  };
}
