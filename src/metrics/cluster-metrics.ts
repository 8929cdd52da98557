import type { Worker } from "node:cluster";
import { AggregatorRegistry, type Registry } from "prom-client";
import type { ClusterMessage, PrimaryMessage, WorkerMessage } from "../process/cluster-messages.js";

/** How long the primary waits for each worker's sample; a worker that has not answered is left out. */
export const SAMPLE_TIMEOUT_MS = 1000;
/** How long a worker waits for the primary's merged text before its scrape fails. */
export const MERGE_TIMEOUT_MS = 3000;

/** The scrape's answer: Prometheus text, or why there is none. */
export type Scrape = { readonly text: string } | { readonly error: string };

/** The primary's side: answers a worker's scrape with every process's metrics merged. */
export interface MetricsGatherer {
  /** Handles `metrics-request` and `metrics-sample`; false for any other message. */
  receive(worker: Worker, message: ClusterMessage): boolean;
}

/**
 * With workers, a scrape reaches whichever worker holds the connection; that worker asks the primary,
 * which asks every worker for its registry's values (`metrics-collect`), adds its own, and merges them
 * by each metric's aggregator (prom-client's AggregatorRegistry.aggregate: counters and histograms
 * add up, gauges such as build info take the largest). A worker that does not answer within
 * SAMPLE_TIMEOUT_MS is left out of that scrape rather than failing it.
 */
export function createMetricsGatherer(own: Registry, workers: () => readonly Worker[]): MetricsGatherer {
  let next = 0;
  const waiting = new Map<number, (metrics: unknown) => void>();
  const tell = (worker: Worker, message: PrimaryMessage) => {
    if (worker.isConnected()) worker.send(message);
  };

  async function merged(): Promise<string> {
    const asked = workers().filter((worker) => worker.isConnected());
    const samples = await Promise.all(
      asked.map(
        (worker) =>
          new Promise<unknown>((resolve) => {
            const id = next++;
            const timer = setTimeout(() => {
              waiting.delete(id);
              resolve(undefined);
            }, SAMPLE_TIMEOUT_MS);
            waiting.set(id, (metrics) => {
              clearTimeout(timer);
              waiting.delete(id);
              resolve(metrics);
            });
            tell(worker, { kw: "metrics-collect", id });
          }),
      ),
    );
    const all = [await own.getMetricsAsJSON(), ...samples.filter((sample) => Array.isArray(sample))];
    return AggregatorRegistry.aggregate(all as never).metrics();
  }

  return {
    receive(worker, message) {
      if (message.kw === "metrics-sample") {
        waiting.get(message.id)?.(message.metrics);
        return true;
      }
      if (message.kw !== "metrics-request") return false;
      merged().then(
        (text) => tell(worker, { kw: "metrics-text", id: message.id, text }),
        (error: unknown) =>
          tell(worker, {
            kw: "metrics-text",
            id: message.id,
            error: error instanceof Error ? error.message : String(error),
          }),
      );
      return true;
    },
  };
}

/** A worker's end: a scrape asks the primary; the primary's `metrics-collect` gets this registry's values. */
export interface WorkerMetrics {
  scrape(): Promise<Scrape>;
}

export function workerMetrics(
  own: Registry,
  send: (message: WorkerMessage) => boolean,
  onMessage: (listener: (message: ClusterMessage) => void) => void,
): WorkerMetrics {
  let next = 0;
  const waiting = new Map<number, (scrape: Scrape) => void>();
  onMessage((message) => {
    if (message.kw === "metrics-collect") {
      void own.getMetricsAsJSON().then((metrics) => send({ kw: "metrics-sample", id: message.id, metrics }));
    } else if (message.kw === "metrics-text") {
      waiting.get(message.id)?.(
        message.text === undefined ? { error: message.error ?? "no answer" } : { text: message.text },
      );
    }
  });
  return {
    scrape() {
      const id = next++;
      return new Promise<Scrape>((resolve) => {
        const timer = setTimeout(() => {
          waiting.delete(id);
          resolve({ error: "the cluster primary did not answer in time" });
        }, MERGE_TIMEOUT_MS);
        waiting.set(id, (scrape) => {
          clearTimeout(timer);
          waiting.delete(id);
          resolve(scrape);
        });
        if (!send({ kw: "metrics-request", id })) {
          clearTimeout(timer);
          waiting.delete(id);
          resolve({ error: "the cluster primary cannot be reached" });
        }
      });
    },
  };
}
