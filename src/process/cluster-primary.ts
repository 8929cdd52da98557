import cluster, { type Worker } from "node:cluster";
import type { InvalidationMessage } from "../cache/invalidation.js";
import type { Config } from "../config.js";
import type { Logger } from "../log.js";
import { openDatabase } from "../store/database.js";
import { migrateToLatest } from "../store/migrate.js";

const EVICT_TIMEOUT_MS = 2000;

/**
 * The primary of KEYWARD_WORKERS > 1: migrates once, forks the workers (they
 * share the listening ports through node:cluster), relays cache invalidations
 * between them, replaces a worker that dies, and on SIGTERM/SIGINT lets every
 * worker drain before exiting.
 */
export async function runPrimary(config: Config, log: Logger): Promise<void> {
  const db = openDatabase(config.database);
  try {
    const applied = await migrateToLatest(db);
    if (applied.length > 0) log.info("migrations applied", { migrations: applied });
  } finally {
    await db.destroy();
  }

  let stopping = false;
  const fork = () => cluster.fork({ KEYWARD_WORKER: "1" });
  for (let i = 0; i < config.workers; i++) fork();
  log.info("keyward primary", { workers: config.workers, pid: process.pid });

  cluster.on("message", (worker, message: InvalidationMessage) => {
    if (message?.kw === "invalidate") relay(worker, message);
  });
  cluster.on("exit", (worker, code, signal) => {
    if (stopping) return;
    log.error("worker died; starting another", { pid: worker.process.pid, code, signal });
    fork();
  });

  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log.info("draining workers", { signal });
    for (const worker of workers()) worker.process.kill(signal);
    const waiting = setInterval(() => {
      if (workers().length === 0) {
        clearInterval(waiting);
        log.info("keyward stopped");
        process.exit(0);
      }
    }, 50);
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));

  /** Asks every other worker to evict, and confirms to the sender once all have (or the timeout passed). */
  function relay(sender: Worker, message: Extract<InvalidationMessage, { kw: "invalidate" }>) {
    const others = workers().filter((worker) => worker !== sender && worker.isConnected());
    let remaining = others.length;
    const done = () => {
      clearTimeout(timer);
      if (sender.isConnected())
        sender.send({ kw: "invalidated", id: message.id } satisfies InvalidationMessage);
    };
    const timer = setTimeout(() => {
      log.warn("workers did not confirm an invalidation in time", { waiting_for: remaining });
      remaining = 0;
      done();
    }, EVICT_TIMEOUT_MS);
    if (remaining === 0) return done();
    for (const worker of others) {
      const onReply = (reply: InvalidationMessage) => {
        if (reply?.kw !== "evicted" || reply.id !== message.id) return;
        worker.off("message", onReply);
        remaining--;
        if (remaining === 0) done();
      };
      worker.on("message", onReply);
      worker.send({
        kw: "evict",
        id: message.id,
        hashes: message.hashes,
        all: message.all,
      } satisfies InvalidationMessage);
    }
  }
}

function workers(): Worker[] {
  return Object.values(cluster.workers ?? {}).filter((worker): worker is Worker => worker !== undefined);
}
