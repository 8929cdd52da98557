import type { UsageDelta } from "../domain/usage-delta.js";
import type { Logger } from "../log.js";

/** The write-behind flush of usage counts; see startUsageFlush. */
export interface UsageFlush {
  /** Resolves once no flush is in progress (the store then holds everything drained so far). */
  flushed(): Promise<void>;
  /** How many flushes have started: a read of the store that spans a start may miss what it drained. */
  started(): number;
  /** Flushes what is left and stops; the last flush's failure is logged, not thrown. */
  stop(): Promise<void>;
  /** When the last flush ended without failing (or it started; ms since the epoch), and how many failed. */
  stats(): { readonly lastFlushedAt: number; readonly failures: number };
}

export interface UsageFlushOptions {
  /** Where the counts come from; each call empties its source. */
  readonly drains: readonly (() => UsageDelta[])[];
  /** Adds the deltas to the store in one transaction. */
  readonly write: (deltas: readonly UsageDelta[]) => Promise<void>;
  readonly intervalMs: number;
  readonly log: Logger;
}

/**
 * Every `intervalMs` (KEYWARD_USAGE_FLUSH), drains the counters and adds them to the store, so that
 * the decision path only ever touches memory (issue 12). A failed write keeps its deltas for the
 * next flush; a crash loses at most one interval of counts; `stop` (SIGTERM) loses none.
 */
export function startUsageFlush(options: UsageFlushOptions): UsageFlush {
  let retry: UsageDelta[] = [];
  let running: Promise<void> | undefined;
  let failing = false;
  let started = 0;
  // The age a scrape reports counts from start-up until the first flush.
  let lastFlushedAt = Date.now();
  let failures = 0;

  const flush = (): Promise<void> => {
    if (running !== undefined) return running;
    started++;
    running = (async () => {
      const deltas = retry;
      retry = [];
      for (const drain of options.drains) for (const delta of drain()) deltas.push(delta);
      if (deltas.length === 0) {
        lastFlushedAt = Date.now();
        return;
      }
      try {
        await options.write(deltas);
        lastFlushedAt = Date.now();
        if (failing) options.log.info("usage flush recovered", { deltas: deltas.length });
        failing = false;
      } catch (error) {
        // Kept in order ahead of newer counts; additive deltas may be written in any order anyway.
        retry = deltas;
        failures++;
        if (!failing) options.log.error("usage flush failed; keeping the counts for the next one", { error });
        failing = true;
      }
    })().finally(() => {
      running = undefined;
    });
    return running;
  };

  const timer = setInterval(() => void flush(), options.intervalMs);
  timer.unref();
  return {
    flushed: () => running ?? Promise.resolve(),
    started: () => started,
    stats: () => ({ lastFlushedAt, failures }),
    async stop() {
      clearInterval(timer);
      await running;
      await flush();
      if (retry.length > 0) options.log.error("usage counts lost at shutdown", { deltas: retry.length });
    },
  };
}
