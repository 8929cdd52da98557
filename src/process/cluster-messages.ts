// Every message between the cluster primary and its workers (KEYWARD_WORKERS > 1), over node:cluster's
// IPC channel. A worker sends `ready` once it listens for evictions and before it serves (from then on
// the primary waits for its `evicted` on every change), then `serving` once its server accepts
// connections, or `failed` if it could not start. A change made on one worker travels as `invalidate`
// to the primary (process/invalidation-relay.ts), as `evict` to every other worker
// (cache/invalidation.ts), back as their `evicted`, and ends as `invalidated` to the worker that made it.
// With PostgreSQL the primary alone listens for other replicas' changes (cache/replica-listener.ts):
// it relays each as `evict`, as above but with no sender to answer; while its LISTEN connection is
// down it sends `distrust` (to workers that become ready meanwhile too), and `trust` once it is back.
// A decision on a key with limits asks the primary, which holds the one limit book, to `consume`, and
// waits for its `consumed`, which may carry a lease the worker spends on its own and gives back with
// `release` (process/limit-owner.ts, process/limit-client.ts, domain/limit-lease.ts).

import type { EnforcedLimits, LimitDecision } from "../domain/limit-decision.js";
import type { Lease } from "../domain/limit-lease.js";

/** Sent by a worker to the primary. */
export type WorkerMessage =
  | { readonly kw: "ready" }
  | {
      readonly kw: "invalidate";
      readonly id: number;
      readonly hashes: readonly string[];
      readonly all: boolean;
    }
  | { readonly kw: "evicted"; readonly id: number }
  | { readonly kw: "serving" }
  /** `line` is the one line to print, `exitCode` the code to exit with. */
  | { readonly kw: "failed"; readonly line: string; readonly exitCode: number }
  | {
      readonly kw: "consume";
      readonly id: number;
      readonly keyId: string;
      readonly limits: EnforcedLimits;
      readonly cost: number;
      readonly dryRun: boolean;
      /** Whether the worker would take a lease with the answer (it has none on the way for the key). */
      readonly lease: boolean;
    }
  /** A scrape reached this worker: the primary is to merge every process's metrics (metrics/cluster-metrics.ts). */
  | { readonly kw: "metrics-request"; readonly id: number }
  /** This worker's metrics, as prom-client's getMetricsAsJSON gives them, for the primary's `metrics-collect`. */
  | { readonly kw: "metrics-sample"; readonly id: number; readonly metrics: unknown }
  /** A lease's unspent units, given back (limit-lease.ts); no answer. */
  | {
      readonly kw: "release";
      readonly keyId: string;
      readonly limits: EnforcedLimits;
      readonly units: number;
      readonly grantedAt: number;
    };

/** Sent by the primary to a worker. */
export type PrimaryMessage =
  | { readonly kw: "evict"; readonly id: number; readonly hashes: readonly string[]; readonly all: boolean }
  /** `ok` is false when the primary could neither collect every confirmation nor fence the workers that gave none. */
  | { readonly kw: "invalidated"; readonly id: number; readonly ok: boolean }
  /** Trust no cached entry older than `maxAgeMs` (KEYWARD_STALE_BOUND) until `trust`. */
  | { readonly kw: "distrust"; readonly maxAgeMs: number }
  /** Forget every cached entry (notices may have been missed), then trust the cache again. */
  | { readonly kw: "trust" }
  /** Send this process's metrics (`metrics-sample`). */
  | { readonly kw: "metrics-collect"; readonly id: number }
  /** Every process's metrics merged, for the worker's `metrics-request`; `error` when there are none. */
  | { readonly kw: "metrics-text"; readonly id: number; readonly text?: string; readonly error?: string }
  /** Whether rate limits are enforced per replica now (Redis cannot be reached), for the worker's health. */
  | { readonly kw: "rate-limits"; readonly local: boolean }
  /** `decision`, or `error` when the primary could not decide (its store failed reading the key's usage). */
  | {
      readonly kw: "consumed";
      readonly id: number;
      readonly decision?: LimitDecision;
      /** A slice of the key's budget for the worker to spend on its own until it expires. */
      readonly lease?: Lease;
      readonly error?: string;
    };

export type ClusterMessage = WorkerMessage | PrimaryMessage;

/** Every kind, so that the compiler reports one added to the types above but not here. */
const KINDS: Record<ClusterMessage["kw"], true> = {
  ready: true,
  invalidate: true,
  evicted: true,
  serving: true,
  failed: true,
  evict: true,
  invalidated: true,
  distrust: true,
  trust: true,
  consume: true,
  release: true,
  consumed: true,
  "rate-limits": true,
  "metrics-request": true,
  "metrics-sample": true,
  "metrics-collect": true,
  "metrics-text": true,
};

/** Whether an IPC message is one of ours (by its `kw`), not another library's. */
export function isClusterMessage(message: unknown): message is ClusterMessage {
  const kw = typeof message === "object" && message !== null ? (message as { kw?: unknown }).kw : undefined;
  return typeof kw === "string" && Object.hasOwn(KINDS, kw);
}
