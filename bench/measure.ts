import { execFile } from "node:child_process";
import { type H2loadOptions, type H2Request, runH2load } from "./h2load.js";
import type { LoadgenResult } from "./loadgen.js";
import { median } from "./percentiles.js";
import { CLOCK_TICK_US, cpuBusyTicks, type PinnedServer } from "./processes.js";
import { LOAD_CPU, SERVER_CPU } from "./servers.js";

export type Side = "keyward" | "echo";

/** One measured run against one server. Latencies in µs. */
export interface RunResult {
  readonly requests: number;
  readonly callsPerSecond: number;
  /** Server CPU (utime + stime of its process tree) per call, µs; 10 ms tick resolution. */
  readonly cpuUsPerCall: number;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly p999Us: number;
  /** Load generator CPU in % of its core (loadgen only): near 100, it was the limit. */
  readonly generatorCpuPercent?: number;
  /** Server read system calls per call (loadgen only), a proxy for store reads. */
  readonly readSyscallsPerCall?: number;
  /**
   * CPU time other processes took on the server's CPU during the run, in % of the run: the
   * server's CPU is the resource measured, so a run with much of it is disturbed.
   */
  readonly otherLoadPercent: number;
  /** Why the run does not count; empty when valid. */
  readonly problems: readonly string[];
}

/** The expected size of every response's DATA (one gRPC frame), as a range when it varies. */
export interface FrameSize {
  readonly min: number;
  readonly max: number;
}

/**
 * An h2load run, valid only if every request got a 2xx and the DATA bytes are n × the
 * expected frame: h2load does not read trailers, so a gRPC error would count as a success.
 */
export async function measureH2(
  server: PinnedServer,
  request: H2Request,
  options: H2loadOptions,
  frame: FrameSize,
): Promise<RunResult> {
  const watch = watchServerCpu(server);
  const result = await runH2load(request, options);
  const { ticks, otherLoadPercent } = watch();
  const n = options.requests;
  const problems: string[] = [];
  if (result.status2xx !== n) problems.push(`${result.status2xx} of ${n} requests got a 2xx`);
  if (result.dataBytes < n * frame.min || result.dataBytes > n * frame.max) {
    const expected = frame.min === frame.max ? `${n * frame.min}` : `${n * frame.min}–${n * frame.max}`;
    problems.push(`DATA ${result.dataBytes} bytes, expected ${expected} (n × answer frame)`);
  }
  return {
    requests: n,
    callsPerSecond: result.callsPerSecond,
    cpuUsPerCall: (ticks * CLOCK_TICK_US) / n,
    p50Us: result.latencyUs.p50,
    p99Us: result.latencyUs.p99,
    p999Us: result.latencyUs.p999,
    otherLoadPercent,
    problems,
  };
}

/** Starts watching the server's CPU: the returned function gives the server's ticks and others' load since. */
function watchServerCpu(server: PinnedServer): () => { ticks: number; otherLoadPercent: number } {
  const ticks = server.cpuTicks();
  const busy = cpuBusyTicks(SERVER_CPU);
  const started = performance.now();
  return () => {
    const serverTicks = server.cpuTicks() - ticks;
    const elapsedTicks = ((performance.now() - started) * 1000) / CLOCK_TICK_US;
    const others = Math.max(0, cpuBusyTicks(SERVER_CPU) - busy - serverTicks);
    return { ticks: serverTicks, otherLoadPercent: (others / Math.max(1, elapsedTicks)) * 100 };
  };
}

/** Arguments of bench/loadgen.ts besides --target. */
export type LoadgenArgs = readonly string[];

/** A bench/loadgen.ts run on LOAD_CPU; valid only if every call was answered as expected. */
export async function measureLoadgen(server: PinnedServer, args: LoadgenArgs): Promise<RunResult> {
  const command = ["-c", String(LOAD_CPU), process.execPath, "--import", "tsx", "bench/loadgen.ts"];
  const watch = watchServerCpu(server);
  // The generator's own start-up (reading keys, building frames, connecting) is not in its
  // timings; the server is idle meanwhile, so its CPU delta is the run's.
  const stdout = await new Promise<string>((resolve, reject) =>
    execFile(
      "taskset",
      [...command, "--target", server.address, ...args],
      { timeout: 180_000, killSignal: "SIGKILL", maxBuffer: 1 << 20 },
      (error, out, err) =>
        error ? reject(new Error(`loadgen failed: ${error.message}\n${err}`)) : resolve(out),
    ),
  );
  const { ticks, otherLoadPercent } = watch();
  const result = JSON.parse(stdout) as LoadgenResult;
  const problems: string[] = [];
  if (result.calls === 0) problems.push("no calls");
  if (result.warmupFailed > 0) problems.push(`${result.warmupFailed} warm-up calls not as expected`);
  if (result.ok !== result.calls) {
    problems.push(
      `${result.calls - result.ok} of ${result.calls} calls not as expected (status ${result.badStatus}, reason ${result.badReason}, errors ${result.errors}): ${result.firstProblem}`,
    );
  }
  return {
    requests: result.calls,
    callsPerSecond: result.callsPerSecond,
    cpuUsPerCall: (ticks * CLOCK_TICK_US) / Math.max(1, result.calls),
    p50Us: result.latencyUs.p50,
    p99Us: result.latencyUs.p99,
    p999Us: result.latencyUs.p999,
    generatorCpuPercent: result.generatorCpuPercent,
    otherLoadPercent,
    problems,
  };
}

/**
 * Rounds in the order keyward, echo, echo, keyward, keyward, echo, … (A B B A A B), so that a
 * drift of the machine during the run affects both sides alike.
 */
export async function alternate(
  rounds: number,
  run: (side: Side, round: number) => Promise<RunResult>,
): Promise<Record<Side, RunResult[]>> {
  const results: Record<Side, RunResult[]> = { keyward: [], echo: [] };
  for (let round = 0; round < rounds; round++) {
    const order: Side[] = round % 2 === 0 ? ["keyward", "echo"] : ["echo", "keyward"];
    for (const side of order) results[side].push(await run(side, round));
  }
  return results;
}

/** Medians over rounds, each figure on its own. */
export interface Summary {
  readonly callsPerSecond: number;
  readonly cpuUsPerCall: number;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly p999Us: number;
  readonly generatorCpuPercent?: number;
  /** The most CPU other processes took on the server's CPU in any round, %. */
  readonly maxOtherLoadPercent: number;
  readonly valid: boolean;
}

export function summarize(runs: readonly RunResult[]): Summary {
  const of = (pick: (run: RunResult) => number) => median(runs.map(pick));
  const generator = runs.map((run) => run.generatorCpuPercent).filter((v) => v !== undefined);
  return {
    callsPerSecond: of((run) => run.callsPerSecond),
    cpuUsPerCall: of((run) => run.cpuUsPerCall),
    p50Us: of((run) => run.p50Us),
    p99Us: of((run) => run.p99Us),
    p999Us: of((run) => run.p999Us),
    ...(generator.length > 0 && { generatorCpuPercent: median(generator) }),
    maxOtherLoadPercent: Math.max(0, ...runs.map((run) => run.otherLoadPercent)),
    valid: runs.length > 0 && runs.every((run) => run.problems.length === 0),
  };
}
