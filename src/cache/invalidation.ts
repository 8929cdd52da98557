import { InvalidationUnconfirmed } from "../domain/unavailable.js";
import type { Logger } from "../log.js";
import { isClusterMessage, type WorkerMessage } from "../process/cluster-messages.js";
import type { KeyCache } from "./key-cache.js";

/** Keys to forget: the hashes a change touched, or everything (a workspace changed). */
export interface Invalidation {
  readonly hashes: readonly string[];
  readonly all: boolean;
}

/**
 * Carries an invalidation to the other processes that serve the same store,
 * and resolves once they have applied it: a change is not acknowledged while
 * another worker could still answer from its stale cache. Rejects with an
 * InvalidationUnconfirmed when that cannot be established in time.
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

/**
 * How long a worker waits for the primary's answer. Longer than the primary's own confirmation
 * timeout plus the time it gives a fenced worker to exit, so that an answer is normally there.
 */
export const WORKER_CONFIRM_TIMEOUT_MS = 5000;

/**
 * The bus of a node:cluster worker: asks the primary to make every other
 * worker evict, and applies the evictions other workers ask for, and the primary's distrust and
 * trust of the cache (other replicas' changes, process/cluster-messages.ts). Create it
 * before the worker serves (it announces `ready`). A primary that does not
 * confirm in time makes the change fail with InvalidationUnconfirmed.
 */
export function clusterWorkerBus(
  cache: KeyCache,
  log: Logger,
  timeoutMs = WORKER_CONFIRM_TIMEOUT_MS,
): InvalidationBus {
  const pending = new Map<number, (ok: boolean) => void>();
  let next = 0;
  process.on("message", (message: unknown) => {
    if (!isClusterMessage(message)) return;
    if (message.kw === "evict") {
      applyInvalidation(cache, message);
      process.send?.({ kw: "evicted", id: message.id } satisfies WorkerMessage);
    } else if (message.kw === "invalidated") {
      pending.get(message.id)?.(message.ok);
    } else if (message.kw === "distrust") {
      cache.limitAge(message.maxAgeMs);
    } else if (message.kw === "trust") {
      cache.clear(); // first: until it is empty, an entry from before the loss must stay distrusted
      cache.limitAge(undefined);
    }
  });
  process.send?.({ kw: "ready" } satisfies WorkerMessage);
  return {
    broadcast(change) {
      const id = ++next;
      return new Promise<void>((resolve, reject) => {
        const settle = (ok: boolean) => {
          clearTimeout(timer);
          pending.delete(id);
          if (ok) return resolve();
          log.error("a change was committed but not confirmed by every worker", { timeout_ms: timeoutMs });
          reject(
            new InvalidationUnconfirmed(
              "the change is saved, but not every server process has confirmed it yet; it is enforced " +
                "everywhere once they have, and after KEYWARD_CACHE_TTL at the latest",
            ),
          );
        };
        const timer = setTimeout(() => settle(false), timeoutMs);
        pending.set(id, settle);
        const message: WorkerMessage = { kw: "invalidate", id, hashes: change.hashes, all: change.all };
        process.send?.(message, undefined, {}, (error: Error | null) => {
          if (error) settle(false);
        });
      });
    },
  };
}
