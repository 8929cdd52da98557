import cluster from "node:cluster";
import { pathToFileURL } from "node:url";
import type { Registry } from "prom-client";
import { clusterWorkerBus } from "./cache/invalidation.js";
import { loadConfig } from "./config.js";
import { ConfigurationError } from "./configuration-error.js";
import { systemClock } from "./domain/clock.js";
import { startKeyward } from "./keyward.js";
import { createLogger, type Logger } from "./log.js";
import { type Scrape, workerMetrics } from "./metrics/cluster-metrics.js";
import { PolicyFileError } from "./policy/policy-file.js";
import type { WorkerMessage } from "./process/cluster-messages.js";
import { runPrimary } from "./process/cluster-primary.js";
import { clusterLimitGate, processChannel } from "./process/limit-client.js";

/**
 * Runs the server until SIGTERM or SIGINT, then drains and exits 0.
 * An invalid configuration (or route policy file) exits 2 with one line naming the variable.
 * With KEYWARD_WORKERS > 1 this process becomes the cluster primary and the workers run the server.
 */
export async function main(env: Readonly<Record<string, string | undefined>> = process.env): Promise<void> {
  const loaded = loadConfig(env);
  if (!loaded.ok) {
    process.stderr.write(`keyward: ${loaded.error}\n`);
    process.exit(2);
  }
  const log = createLogger(loaded.config.logLevel, undefined, loaded.config.logFormat);
  if (loaded.config.workers > 1 && cluster.isPrimary) {
    await runPrimary(loaded.config, log).catch((error: unknown) => startupFailed(error, log));
    return;
  }
  let keyward: Awaited<ReturnType<typeof startKeyward>>;
  try {
    keyward = await startKeyward(loaded.config, log, systemClock, {
      invalidations: cluster.isWorker ? (cache) => clusterWorkerBus(cache, log) : undefined,
      limitGate: cluster.isWorker ? clusterLimitGate() : undefined,
      clusterMetrics: cluster.isWorker ? scrapeThroughPrimary : undefined,
    });
  } catch (error) {
    return startupFailed(error, log);
  }
  if (cluster.isWorker) process.send?.({ kw: "serving" } satisfies WorkerMessage);
  let draining = false;
  const stop = (signal: string) => {
    // Ctrl-C reaches a cluster worker twice (from the terminal and from the primary): drain once,
    // and keep listening so that the second signal does not kill the process mid-drain.
    if (draining) return;
    draining = true;
    log.info("draining", { signal });
    keyward.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error("shutdown failed", { error });
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGHUP", () => {
    log.info("reloading the route policy and tier files", { signal: "SIGHUP" });
    void keyward.reload();
  });
}

/** A worker's scrape: every process's metrics, merged by the primary (metrics/cluster-metrics.ts). */
function scrapeThroughPrimary(own: Registry): () => Promise<Scrape> {
  const channel = processChannel();
  const metrics = workerMetrics(own, (message) => channel.send(message), channel.onMessage);
  return () => metrics.scrape();
}

/**
 * Ends a start-up that failed with one line and exit code 2 (configuration) or 1, and no stack
 * trace (it goes to the debug log). A cluster worker hands the line to the primary, which prints
 * it once for all workers and stops the server.
 */
async function startupFailed(error: unknown, log: Logger): Promise<never> {
  const message = error instanceof Error ? error.message : String(error);
  const variable =
    error instanceof PolicyFileError
      ? "KEYWARD_POLICY"
      : error instanceof ConfigurationError
        ? error.variable
        : undefined;
  const configuration = variable !== undefined;
  const line = configuration ? `${variable}: ${message}` : `start-up failed: ${message}`;
  const exitCode = configuration ? 2 : 1;
  log.debug("start-up failed", { error });
  if (cluster.isWorker && process.connected) {
    const failed = { kw: "failed", line, exitCode } satisfies WorkerMessage;
    await new Promise((resolve) => process.send?.(failed, undefined, {}, resolve));
  } else {
    process.stderr.write(`keyward: ${line}\n`);
  }
  process.exit(exitCode);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
