import cluster, { type Worker } from "node:cluster";
import type { Invalidation } from "../cache/invalidation.js";
import type { Logger } from "../log.js";
import type { ClusterMessage, PrimaryMessage } from "./cluster-messages.js";

/** How long the primary waits for every worker to confirm an eviction before it fences the silent ones. */
export const CONFIRM_TIMEOUT_MS = 1000;
/** How long a fenced (SIGKILLed) worker may take to be gone before the change is reported unconfirmed. */
const EXIT_TIMEOUT_MS = 2000;

/** The primary's half of cross-worker cache invalidation. */
export interface InvalidationRelay {
  /** Takes a worker's message; true when it was one of the relay's. */
  receive(worker: Worker, message: ClusterMessage): boolean;
  /** Whether the relay killed this worker to fence it (it is replaced, and no crash is counted). */
  fenced(worker: Worker): boolean;
  /**
   * Has every worker evict another replica's change (fencing the silent ones, as for a worker's
   * change); resolves once they have.
   */
  broadcast(change: Invalidation): Promise<void>;
  /** Every worker, and each that becomes ready from now on, trusts no entry older than maxAgeMs. */
  distrust(maxAgeMs: number): void;
  /** Every worker empties its cache, then trusts it again. */
  trust(): void;
}

/**
 * Relays an invalidation from the worker that made a change to every other
 * worker that may hold a cache, and confirms to the sender only once each has
 * evicted. A worker that does not confirm within CONFIRM_TIMEOUT_MS (stalled,
 * or its channel closed) is fenced: killed with SIGKILL, and the confirmation
 * waits until it is gone, so that it can never answer from its stale cache
 * after the change was acknowledged (test/process/invalidation-fence.test.ts).
 *
 * A worker counts from its `ready` message on. One that has not sent it yet has
 * no connections, hence no cache: it sends `ready` before it listens, and
 * node:cluster hands it connections only after the primary read its listen
 * request, which follows `ready` on the same channel.
 */
export function createInvalidationRelay(
  log: Logger,
  /** Told how long each relay took, from its start to the last confirmation (metrics). */
  relayed?: (seconds: number) => void,
): InvalidationRelay {
  const ready = new Set<Worker>();
  const killed = new WeakSet<Worker>();
  /** Per relayed invalidation: called with each worker that evicted or is gone. */
  const waiting = new Map<number, (worker: Worker) => void>();
  let next = 0;
  let maxAgeMs: number | undefined;

  function tell(worker: Worker, message: PrimaryMessage) {
    if (worker.isConnected()) worker.send(message, undefined, () => {});
  }

  cluster.on("exit", (worker) => {
    ready.delete(worker);
    for (const gone of waiting.values()) gone(worker); // a dead worker holds no cache
  });

  /** Relays a change to every ready worker but its sender (none for another replica's change). */
  async function relay(sender: Worker | undefined, change: Invalidation): Promise<boolean> {
    const id = ++next;
    const started = performance.now();
    const silent = new Set([...ready].filter((worker) => worker !== sender));
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      if (silent.size === 0) return resolve();
      waiting.set(id, (worker) => {
        if (silent.delete(worker) && silent.size === 0) resolve();
      });
      timer = setTimeout(resolve, CONFIRM_TIMEOUT_MS);
      const evict: PrimaryMessage = { kw: "evict", id, hashes: change.hashes, all: change.all };
      // A send that fails leaves the worker silent: it is fenced when the timeout passes.
      for (const worker of silent) worker.send(evict, undefined, () => {});
    });
    clearTimeout(timer);
    waiting.delete(id);
    relayed?.((performance.now() - started) / 1000);
    let ok = true;
    if (silent.size > 0) {
      const pids = [...silent].map((worker) => worker.process.pid);
      log.warn("workers did not confirm a cache invalidation in time; replacing them", {
        pids,
        timeout_ms: CONFIRM_TIMEOUT_MS,
      });
      ok = (await Promise.all([...silent].map(fence))).every(Boolean);
      if (!ok) log.error("a fenced worker did not exit in time", { pids, timeout_ms: EXIT_TIMEOUT_MS });
    }
    return ok;
  }

  /** Kills the worker and resolves true once it has exited. */
  function fence(worker: Worker): Promise<boolean> {
    killed.add(worker);
    if (worker.isDead()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), EXIT_TIMEOUT_MS);
      worker.once("exit", () => {
        clearTimeout(timer);
        resolve(true);
      });
      worker.process.kill("SIGKILL");
    });
  }

  return {
    receive(worker, message) {
      switch (message.kw) {
        case "ready":
          ready.add(worker);
          if (maxAgeMs !== undefined) tell(worker, { kw: "distrust", maxAgeMs });
          return true;
        case "evicted":
          waiting.get(message.id)?.(worker);
          return true;
        case "invalidate":
          void relay(worker, message).then((ok) => tell(worker, { kw: "invalidated", id: message.id, ok }));
          return true;
        default:
          return false;
      }
    },
    fenced: (worker) => killed.has(worker),
    async broadcast(change) {
      await relay(undefined, change);
    },
    distrust(ms) {
      maxAgeMs = ms;
      for (const worker of ready) tell(worker, { kw: "distrust", maxAgeMs: ms });
    },
    trust() {
      maxAgeMs = undefined;
      for (const worker of ready) tell(worker, { kw: "trust" });
    },
  };
}
