import { readFileSync } from "node:fs";
import { join } from "node:path";
import { median } from "./median.js";
import { childPids, processName, residentBytes } from "./processes.js";

// The soak's memory measurements: RSS of the cluster primary and of each of its workers from /proc,
// sampled all along, and the live heap of each node process after a full GC (bench/heap-probe.mjs) at
// the moments the soak asks for it.

/** One process's RSS at one moment. */
export interface RssSample {
  /** Seconds, on whatever clock the caller uses (the soak: since its load started). */
  readonly at: number;
  readonly bytes: number;
}

export interface ProcessRss {
  readonly pid: number;
  readonly role: "primary" | "worker";
  readonly samples: RssSample[];
}

/** What the probe writes: process.memoryUsage() right after a full GC. */
export interface HeapRecord {
  readonly time: number;
  readonly collected: boolean;
  readonly heapUsed: number;
  readonly heapTotal: number;
  readonly external: number;
}

export interface RssSampler {
  /** Samples the primary and each of its workers; returns the workers' pids. */
  sample(at: number): number[];
  readonly processes: () => ProcessRss[];
}

export function createRssSampler(primary: number): RssSampler {
  const processes = new Map<number, ProcessRss>();
  return {
    sample(at) {
      const workers: number[] = [];
      // Cluster workers are the primary's node children.
      const children = childPids(primary).filter((pid) => processName(pid) === "node");
      for (const pid of [primary, ...children]) {
        const bytes = residentBytes(pid);
        if (bytes === undefined) continue;
        const role = pid === primary ? "primary" : "worker";
        if (role === "worker") workers.push(pid);
        let rss = processes.get(pid);
        if (rss === undefined) {
          rss = { pid, role, samples: [] };
          processes.set(pid, rss);
        }
        rss.samples.push({ at, bytes });
      }
      return workers;
    },
    processes: () => [...processes.values()],
  };
}

/**
 * Asks each process (SIGUSR2) for its heap after a full GC and waits for the answers, at most
 * timeoutMs; a process that did not answer is left out.
 */
export async function liveHeaps(pids: readonly number[], dir: string, timeoutMs = 10_000) {
  const asked = Date.now();
  for (const pid of pids) process.kill(pid, "SIGUSR2");
  const heaps = new Map<number, HeapRecord>();
  const deadline = asked + timeoutMs;
  while (heaps.size < pids.length && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    for (const pid of pids) {
      try {
        const record = JSON.parse(readFileSync(join(dir, `${pid}.json`), "utf8")) as HeapRecord;
        if (record.time >= asked) heaps.set(pid, record);
      } catch {
        // not written yet, or being written
      }
    }
  }
  return heaps;
}

/** What RSS did: its first sample, its level right after the warm-up and at the end, and the growth. */
export interface Growth {
  readonly startMb: number;
  readonly afterWarmupMb: number;
  readonly endMb: number;
  /** end ÷ after warm-up − 1, in per cent. */
  readonly growthPercent: number;
}

const MB = 2 ** 20;

/**
 * RSS growth from the warm-up's end to the end of the run. Each level is the median of a window (a
 * tenth of the samples after the warm-up, at least 3), so that one sample does not decide.
 */
export function rssGrowth(samples: readonly RssSample[], warmupEnd: number): Growth | undefined {
  const measured = samples.filter((s) => s.at >= warmupEnd);
  const first = samples[0];
  if (measured.length < 3 || first === undefined) return undefined;
  const window = Math.max(3, Math.ceil(measured.length / 10));
  const after = median(measured.slice(0, window).map((s) => s.bytes));
  const end = median(measured.slice(-window).map((s) => s.bytes));
  return {
    startMb: first.bytes / MB,
    afterWarmupMb: after / MB,
    endMb: end / MB,
    growthPercent: (end / after - 1) * 100,
  };
}

/** Heap growth of one process between three live-heap measurements. */
export function heapGrowth(
  start: HeapRecord | undefined,
  afterWarmup: HeapRecord | undefined,
  end: HeapRecord | undefined,
): Growth | undefined {
  if (start === undefined || afterWarmup === undefined || end === undefined) return undefined;
  return {
    startMb: start.heapUsed / MB,
    afterWarmupMb: afterWarmup.heapUsed / MB,
    endMb: end.heapUsed / MB,
    growthPercent: (end.heapUsed / afterWarmup.heapUsed - 1) * 100,
  };
}
