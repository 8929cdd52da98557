import cluster, { type Worker } from "node:cluster";
import { listenerName, startReplicaListener } from "../cache/replica-listener.js";
import type { Config } from "../config.js";
import { isPostgresUrl } from "../database-url.js";
import { systemClock } from "../domain/clock.js";
import { createLimitBook } from "../domain/limit-book.js";
import { limitPart } from "../domain/usage-delta.js";
import type { Logger } from "../log.js";
import { createMetricsGatherer } from "../metrics/cluster-metrics.js";
import { createProcessMetrics } from "../metrics/process-metrics.js";
import { openChangeListener, openDatabase } from "../store/database.js";
import { migrateToLatest } from "../store/migrate.js";
import { addUsage, readUsage } from "../store/usage-queries.js";
import { VERSION } from "../version.js";
import { isClusterMessage, type WorkerMessage } from "./cluster-messages.js";
import { createInvalidationRelay } from "./invalidation-relay.js";
import { createLimitOwner } from "./limit-owner.js";
import { serverLimitGate } from "./server-limit-gate.js";
import { startUsageFlush } from "./usage-flush.js";

/** Deaths within CRASH_WINDOW_MS that stop the server instead of starting yet another worker. */
export const CRASH_LIMIT = 5;
export const CRASH_WINDOW_MS = 60_000;
const FIRST_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 5000;
/** How long workers may drain when the primary stops because of a failure. */
const FAILURE_DRAIN_MS = 5000;
/** How long past its own drain timeout a stopping worker may take (closing its store) before it is killed. */
const STOP_GRACE_MS = 5000;

/**
 * The primary of KEYWARD_WORKERS > 1: migrates once, forks the workers (they
 * share the listening ports through node:cluster), relays cache invalidations
 * between them, and supervises them:
 * - a worker that fails before every worker has served stops the server with
 *   that worker's one line and exit code (a port in use, a broken policy file:
 *   retrying cannot help, and a server that never serves must not look alive);
 * - a worker that dies later is replaced, after a backoff that doubles with
 *   each recent death; CRASH_LIMIT deaths within CRASH_WINDOW_MS stop the server;
 * - SIGTERM/SIGINT let every worker drain before the primary exits (killing any that outlives its drain
 *   timeout by STOP_GRACE_MS).
 * Fails (throws) only before forking, when the store cannot be opened or migrated.
 */
export async function runPrimary(config: Config, log: Logger): Promise<void> {
  // Kept open: the primary holds the cluster's limit book, reads keys' usage into it and flushes it.
  const metrics = createProcessMetrics(VERSION);
  const database = await openDatabase(config.database, {
    poolSize: config.databasePool,
    observe: metrics.store,
  });
  try {
    const applied = await migrateToLatest(database.db);
    if (applied.length > 0) log.info("migrations applied", { migrations: applied });
  } catch (error) {
    await database.close();
    throw error;
  }

  const relay = createInvalidationRelay(log, metrics.relayed);
  const book = createLimitBook({ maxKeys: config.cache.maxKeys });
  const usage = startUsageFlush({
    drains: [() => book.drain().map(limitPart)],
    write: (deltas) => addUsage(database.db, deltas),
    intervalMs: config.usageFlushMs,
    log,
  });
  // With Redis, whether rate limits are local now goes to every worker (its /healthz says so).
  let rateLimitsLocal = false;
  const tellRateLimits = (worker: Worker) => {
    if (worker.isConnected()) worker.send({ kw: "rate-limits", local: rateLimitsLocal });
  };
  const gate = await serverLimitGate(
    config,
    log,
    book,
    systemClock,
    (keyId, now) => readUsage(database.db, keyId, now),
    usage,
    (local) => {
      rateLimitsLocal = local;
      for (const worker of workers()) tellRateLimits(worker);
    },
  );
  rateLimitsLocal = gate.local();
  metrics.watchUsageFlush(usage.stats);
  const limits = createLimitOwner(gate, config.workers);
  const served = new WeakSet<Worker>();
  const failures = new WeakMap<Worker, Extract<WorkerMessage, { kw: "failed" }>>();
  const deaths: number[] = [];
  let starting = config.workers; // initial workers that have not served yet
  let stopping = false;

  // Other replicas' changes on PostgreSQL: the primary listens for all its workers and relays each
  // change as it relays a worker's. One connection per replica instead of one per worker, and the relay
  // already knows every worker and fences one that does not evict; a worker never listens itself.
  const replica = isPostgresUrl(config.database)
    ? await startReplicaListener({
        open: (handlers) => openChangeListener(config.database, listenerName(), handlers),
        log,
        apply: (change) => void relay.broadcast(change),
        distrust: () => relay.distrust(config.staleBoundMs),
        // Each worker empties its cache before it trusts it again (cache/invalidation.ts).
        trust: async () => relay.trust(),
      })
    : undefined;

  metrics.watchDegraded(
    () => replica !== undefined && !replica.listening,
    () => rateLimitsLocal,
  );
  const gatherer = createMetricsGatherer(metrics.registry, workers);

  const fork = () => cluster.fork({ KEYWARD_WORKER: "1" });
  for (let i = 0; i < config.workers; i++) fork();
  log.info("keyward primary", { workers: config.workers, pid: process.pid });

  cluster.on("message", (worker, message: unknown) => {
    if (
      !isClusterMessage(message) ||
      relay.receive(worker, message) ||
      limits.receive(worker, message) ||
      gatherer.receive(worker, message)
    )
      return;
    if (message.kw === "serving" && !served.has(worker)) {
      served.add(worker);
      if (rateLimitsLocal) tellRateLimits(worker);
      if (starting > 0) starting--;
    } else if (message.kw === "failed") {
      failures.set(worker, message);
    }
  });

  cluster.on("exit", (worker, code, signal) => {
    if (stopping) return;
    if (relay.fenced(worker)) {
      fork(); // killed on purpose to keep a stale cache from answering; not a crash
      return;
    }
    const failure = failures.get(worker);
    if (!served.has(worker) && starting > 0) {
      // Never served, and neither has the server as a whole: start-up failed.
      fail(
        failure?.line ?? `start-up failed: a worker exited (${signal ?? `code ${code}`}) before serving`,
        failure?.exitCode ?? 1,
      );
      return;
    }
    const now = Date.now();
    deaths.push(now);
    while (deaths.length > 0 && (deaths[0] as number) <= now - CRASH_WINDOW_MS) deaths.shift();
    if (deaths.length >= CRASH_LIMIT) {
      fail(`workers died ${deaths.length} times within ${CRASH_WINDOW_MS / 1000}s; stopping`, 1);
      return;
    }
    const backoff = Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** (deaths.length - 1));
    log.error("worker died; starting another", {
      pid: worker.process.pid,
      code,
      signal,
      ...(failure && { error: failure.line }),
      backoff_ms: backoff,
    });
    setTimeout(() => {
      if (!stopping) fork();
    }, backoff);
  });

  /** Stops every worker and exits with `exitCode`, printing `line` as the server's one line. */
  function fail(line: string, exitCode: number) {
    log.error("stopping", { reason: line });
    process.stderr.write(`keyward: ${line}\n`);
    shutDown("SIGTERM", exitCode, FAILURE_DRAIN_MS);
  }

  function shutDown(signal: NodeJS.Signals, exitCode: number, killAfterMs?: number) {
    if (stopping) return;
    stopping = true;
    for (const worker of workers()) worker.process.kill(signal);
    const killer =
      killAfterMs === undefined
        ? undefined
        : setTimeout(() => {
            for (const worker of workers()) worker.process.kill("SIGKILL");
          }, killAfterMs);
    const waiting = setInterval(() => {
      if (workers().length > 0) return;
      clearInterval(waiting);
      clearTimeout(killer);
      // The workers have stopped deciding: what the book counted goes to the store, then the store closes.
      void gate
        .close() // reservations go back to Redis while it is still connected
        .then(() => usage.stop())
        .then(() => replica?.close())
        .then(() => database.close())
        .catch((error: unknown) => log.error("closing the store failed", { error }))
        .finally(() => {
          log.info("keyward stopped");
          process.exit(exitCode);
        });
    }, 50);
  }

  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    log.info("draining workers", { signal });
    // A worker cuts its calls after the drain timeout; one that still has not exited is stuck, and a
    // primary waiting for it forever would never stop.
    shutDown(signal, 0, config.drainTimeoutMs + STOP_GRACE_MS);
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  // Each worker reads the route policy and tier files again (the primary holds neither).
  process.on("SIGHUP", () => {
    for (const worker of workers()) worker.process.kill("SIGHUP");
  });
}

function workers(): Worker[] {
  return Object.values(cluster.workers ?? {}).filter((worker): worker is Worker => worker !== undefined);
}
