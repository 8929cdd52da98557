import type { Clock } from "../domain/clock.js";

/**
 * A part that keeps this process from being ready, as `GET /readyz` names it, one per line:
 * - `server: draining`: the server is stopping (SIGTERM); the store is not asked.
 * - `store: unavailable`: the store did not answer its probe within PROBE_TIMEOUT_MS.
 * - `invalidation: degraded`: the connection that hears other replicas' changes is down
 *   (cache/replica-listener.ts; a cluster worker hears it from its primary as `distrust`).
 */
export type ReadinessProblem = "server: draining" | "store: unavailable" | "invalidation: degraded";

export interface ReadinessOptions {
  readonly isServing: () => boolean;
  /** Resolves when the store answers a trivial question (store/database.ts, StoreConnections.probe). */
  readonly probeStore: () => Promise<void>;
  /** Whether this process's cache has stopped hearing other replicas' changes. */
  readonly invalidationDegraded: () => boolean;
  readonly clock: Clock;
}

/** How long the store may take to answer the probe before it counts as unavailable. */
const PROBE_TIMEOUT_MS = 1000;
/** How long a probe's result is reused: frequent polling costs one probe per this interval at most. */
const PROBE_REUSE_MS = 1000;

/**
 * What `GET /readyz` answers: the parts that fail, none when ready. The store is probed at most once
 * per PROBE_REUSE_MS and never twice at a time; the result (one boolean) is all this remembers,
 * forgotten when the next probe is due. Never rejects.
 */
export function createReadiness(options: ReadinessOptions): () => Promise<readonly ReadinessProblem[]> {
  let last: { readonly at: number; readonly answered: boolean } | undefined;
  let probing: Promise<boolean> | undefined;

  const storeAnswers = (): Promise<boolean> => {
    const now = options.clock.now();
    if (last !== undefined && now - last.at < PROBE_REUSE_MS) return Promise.resolve(last.answered);
    probing ??= probeWithin(options.probeStore, PROBE_TIMEOUT_MS).then((answered) => {
      last = { at: options.clock.now(), answered };
      probing = undefined;
      return answered;
    });
    return probing;
  };

  return async () => {
    if (!options.isServing()) return ["server: draining"];
    const problems: ReadinessProblem[] = [];
    if (!(await storeAnswers())) problems.push("store: unavailable");
    if (options.invalidationDegraded()) problems.push("invalidation: degraded");
    return problems;
  };
}

/** Whether the probe resolves within timeoutMs; a later answer (or failure) is ignored. */
function probeWithin(probe: () => Promise<void>, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    const settle = (answered: boolean) => {
      clearTimeout(timer);
      resolve(answered);
    };
    probe().then(
      () => settle(true),
      () => settle(false),
    );
  });
}
