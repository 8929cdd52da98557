import type { Logger } from "../log.js";
import type { KeyCache } from "./key-cache.js";

/** Keys to forget: the hashes a change touched, or everything (a workspace changed). */
export interface Invalidation {
  readonly hashes: readonly string[];
  readonly all: boolean;
}

/**
 * Carries an invalidation to the other processes that serve the same store,
 * and resolves once they have applied it: a change is not acknowledged while
 * another worker could still answer from its stale cache.
 */
export interface InvalidationBus {
  broadcast(change: Invalidation): Promise<void>;
}

/** One process: nothing to tell anyone. */
export const singleProcess: InvalidationBus = { broadcast: async () => undefined };

/** Applies an invalidation to a cache. */
export function applyInvalidation(cache: KeyCache, change: Invalidation): void {
  if (change.all) cache.clear();
  else for (const hash of change.hashes) cache.evict(hash);
}

/** Messages between a cluster worker and the primary (see process/cluster-primary.ts). */
export type InvalidationMessage =
  | {
      readonly kw: "invalidate";
      readonly id: number;
      readonly hashes: readonly string[];
      readonly all: boolean;
    }
  | { readonly kw: "invalidated"; readonly id: number }
  | { readonly kw: "evict"; readonly id: number; readonly hashes: readonly string[]; readonly all: boolean }
  | { readonly kw: "evicted"; readonly id: number };

/**
 * The bus of a node:cluster worker: asks the primary to make every other
 * worker evict, and applies the evictions other workers ask for. A primary that
 * does not answer within timeoutMs is logged and the call goes on: the cache
 * TTL is the backstop.
 */
export function clusterWorkerBus(cache: KeyCache, log: Logger, timeoutMs = 2000): InvalidationBus {
  const send = (message: InvalidationMessage) => process.send?.(message);
  const pending = new Map<number, () => void>();
  let next = 0;
  process.on("message", (message: InvalidationMessage) => {
    if (message?.kw === "evict") {
      applyInvalidation(cache, message);
      send({ kw: "evicted", id: message.id });
    } else if (message?.kw === "invalidated") {
      pending.get(message.id)?.();
    }
  });
  return {
    broadcast(change) {
      const id = ++next;
      return new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          log.warn("other workers did not confirm a cache invalidation in time", { timeout_ms: timeoutMs });
          resolve();
        }, timeoutMs);
        pending.set(id, () => {
          clearTimeout(timer);
          pending.delete(id);
          resolve();
        });
        send({ kw: "invalidate", id, hashes: change.hashes, all: change.all });
      });
    },
  };
}
