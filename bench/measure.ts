import { execFile } from "node:child_process";
import { type H2loadOptions, type H2Request, runH2load } from "./h2load.js";
import type { LoadgenResult } from "./loadgen.js";
import { median } from "./median.js";
import type { OpenLoopResult } from "./open-loop.js";
import { CLOCK_TICK_US, cpuBusyTicks, cpuList, type PinnedServer } from "./processes.js";
import { LOAD_CPU } from "./servers.js";

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
  /**
   * Load generator CPU in % of one core: near 100 for bench/loadgen.ts means it was the limit;
   * bench/open-loop.ts spins while it waits, so there it is the share of the time it had its CPU.
   */
  readonly generatorCpuPercent?: number;
  /**
   * bench/loadgen.ts only: the share of the run its thread was running or waiting for its CPU, %.
   * At GENERATOR_BUSY_LIMIT_PERCENT or more the run is invalid: it measured the generator.
   */
  readonly generatorBusyPercent?: number;
  /** bench/open-loop.ts only: what it offered and how punctual it was. */
  readonly openLoop?: OpenLoopRun;
  /** Scenario 1w: each cluster worker's share of the workers' CPU time, %: did calls reach them all? */
  readonly workerSharesPercent?: readonly number[];
  /** Server read system calls per call (loadgen only), a proxy for store reads. */
  readonly readSyscallsPerCall?: number;
  /**
   * CPU time other processes took on the server's CPUs during the run, in % of the run (of
   * all those CPUs together): the server's CPU is the resource measured, so a run with much of
   * it is disturbed. A generator sharing those CPUs (scenario 1w) is not counted as other.
   */
  readonly otherLoadPercent: number;
  /** Why the run does not count; empty when valid. */
  readonly problems: readonly string[];
}

/** What an open-loop run offered, and how late its sends were. Latencies in µs. */
export interface OpenLoopRun {
  readonly rate: number;
  readonly sentPerSecond: number;
  readonly maxUs: number;
  /** From the actual send time: not corrected for coordinated omission. */
  readonly serviceLatencyUs: Percentiles;
  readonly sendLateUs: Percentiles;
  readonly maxInFlight: number;
}

type Percentiles = OpenLoopResult["latencyUs"];

/** The expected size of every response's DATA (one gRPC frame), as a range when it varies. */
export interface FrameSize {
  readonly min: number;
  readonly max: number;
}

/**
 * An h2load run, valid only if every request got a 2xx and the DATA bytes are n × the
 * expected frame: h2load does not read trailers, so a gRPC error would count as a success.
 * With `answerBytes` (HTTP/1.1, whose answers h2load counts byte for byte), every byte read must
 * also be n × that: status line, headers and body of the expected answer.
 */
export async function measureH2(
  server: PinnedServer,
  request: H2Request,
  options: H2loadOptions,
  frame: FrameSize,
  answerBytes?: number,
): Promise<RunResult> {
  const watch = watchServerCpu(server);
  const result = await runH2load(request, options);
  // h2load's own CPU counts as other load only where it does not share the server's CPUs by design.
  const shared =
    options.cpus !== undefined && cpuList(options.cpus).some((cpu) => cpuList(server.cpus).includes(cpu));
  const { ticks, otherLoadPercent } = watch(shared ? (result.cpuSeconds * 1e6) / CLOCK_TICK_US : 0);
  const n = options.requests;
  const problems: string[] = [];
  if (result.status2xx !== n) problems.push(`${result.status2xx} of ${n} requests got a 2xx`);
  if (result.dataBytes < n * frame.min || result.dataBytes > n * frame.max) {
    const expected = frame.min === frame.max ? `${n * frame.min}` : `${n * frame.min}–${n * frame.max}`;
    problems.push(`DATA ${result.dataBytes} bytes, expected ${expected} (n × answer frame)`);
  }
  if (answerBytes !== undefined && result.totalBytes !== n * answerBytes)
    problems.push(`${result.totalBytes} bytes read, expected ${n * answerBytes} (n × answer)`);
  return {
    requests: n,
    callsPerSecond: result.callsPerSecond,
    cpuUsPerCall: (ticks * CLOCK_TICK_US) / n,
    p50Us: result.latencyUs.p50,
    p99Us: result.latencyUs.p99,
    p999Us: result.latencyUs.p999,
    generatorCpuPercent: (result.cpuSeconds / result.seconds) * 100,
    otherLoadPercent,
    problems,
  };
}

/**
 * Starts watching the server's CPU: the returned function gives the server's ticks since, and
 * how much of its CPUs others took meanwhile, not counting `expectedTicks` (a generator meant to
 * share them).
 */
function watchServerCpu(
  server: PinnedServer,
): (expectedTicks?: number) => { ticks: number; otherLoadPercent: number } {
  const ticks = server.cpuTicks();
  const busy = cpuBusyTicks(server.cpus);
  const started = performance.now();
  return (expectedTicks = 0) => {
    const serverTicks = server.cpuTicks() - ticks;
    const elapsedTicks = ((performance.now() - started) * 1000) / CLOCK_TICK_US;
    const capacity = elapsedTicks * cpuList(server.cpus).length;
    const others = Math.max(0, cpuBusyTicks(server.cpus) - busy - serverTicks - expectedTicks);
    return { ticks: serverTicks, otherLoadPercent: (others / Math.max(1, capacity)) * 100 };
  };
}

/** Runs a bench/*.ts tool pinned to LOAD_CPU and parses the JSON line it prints. */
async function runTool<T>(script: string, args: readonly string[]): Promise<T> {
  const command = ["-c", String(LOAD_CPU), process.execPath, "--import", "tsx", script, ...args];
  const stdout = await new Promise<string>((resolve, reject) =>
    execFile(
      "taskset",
      command,
      { timeout: 180_000, killSignal: "SIGKILL", maxBuffer: 1 << 20 },
      (error, out, err) =>
        error ? reject(new Error(`${script} failed: ${error.message}\n${err}`)) : resolve(out),
    ),
  );
  return JSON.parse(stdout) as T;
}

/**
 * A closed-loop generator whose thread was busy (running, or waiting for its CPU) this share of a
 * run or more was the limit of that run, not the server: a server-bound generator idles between
 * answers. bench/loadgen.ts needs ~10–20 µs of CPU per call, so below the servers' ~50 µs it idles
 * well over half of the time; bench/README.md says how this was judged.
 */
export const GENERATOR_BUSY_LIMIT_PERCENT = 75;

/** The start of the problem that marks a run as limited by its generator. */
export const GENERATOR_BOUND = "generator-bound";

/** Arguments of bench/loadgen.ts besides --target. */
export type LoadgenArgs = readonly string[];

/** A bench/loadgen.ts run on LOAD_CPU; valid only if every call was answered as expected. */
export async function measureLoadgen(server: PinnedServer, args: LoadgenArgs): Promise<RunResult> {
  const watch = watchServerCpu(server);
  // The generator's own start-up (reading keys, building frames, connecting) is not in its
  // timings; the server is idle meanwhile, so its CPU delta is the run's.
  const result = await runTool<LoadgenResult>("bench/loadgen.ts", ["--target", server.address, ...args]);
  const { ticks, otherLoadPercent } = watch();
  const problems: string[] = [];
  if (result.calls === 0) problems.push("no calls");
  if (result.warmupFailed > 0) problems.push(`${result.warmupFailed} warm-up calls not as expected`);
  if (result.ok !== result.calls) {
    problems.push(
      `${result.calls - result.ok} of ${result.calls} calls not as expected (status ${result.badStatus}, reason ${result.badReason}, errors ${result.errors}): ${result.firstProblem}`,
    );
  }
  if (result.generatorBusyPercent >= GENERATOR_BUSY_LIMIT_PERCENT)
    problems.push(
      `${GENERATOR_BOUND}: its thread was busy ${Math.round(result.generatorBusyPercent)} % of the run ` +
        `(running or waiting for its CPU; limit ${GENERATOR_BUSY_LIMIT_PERCENT} %), so it measured the generator`,
    );
  return {
    requests: result.calls,
    callsPerSecond: result.callsPerSecond,
    cpuUsPerCall: (ticks * CLOCK_TICK_US) / Math.max(1, result.calls),
    p50Us: result.latencyUs.p50,
    p99Us: result.latencyUs.p99,
    p999Us: result.latencyUs.p999,
    generatorCpuPercent: result.generatorCpuPercent,
    generatorBusyPercent: result.generatorBusyPercent,
    otherLoadPercent,
    problems,
  };
}

/**
 * The open-loop generator's sends may lag their intended times by at most this much at p99, half
 * of scenario 6's 1 ms target: later than that, it could not tell whether the target is met. (Its
 * sends are late at all mostly when the VM takes its CPU away for a few ms, see
 * machine.schedulingGapsMs, or while it reads a flood of answers from a server that fell behind.)
 */
export const MAX_SEND_LATE_P99_US = 500;

/**
 * Unless its lateness is at most this share of the p99 measured from the actual sends: where the
 * server itself answers in tens of ms, a few ms of send delay do not make that p99.
 */
const MAX_SEND_LATE_SHARE = 0.1;

/** It must also have sent at least this share of the intended rate (else it fell behind). */
const MIN_SENT_SHARE = 0.99;

/**
 * A bench/open-loop.ts run on LOAD_CPU (arguments besides --target); valid only if every call was
 * answered as expected and the generator kept to its schedule.
 */
export async function measureOpenLoop(server: PinnedServer, args: readonly string[]): Promise<RunResult> {
  const watch = watchServerCpu(server);
  const result = await runTool<OpenLoopResult>("bench/open-loop.ts", ["--target", server.address, ...args]);
  const { ticks, otherLoadPercent } = watch();
  const problems: string[] = [];
  if (result.warmupFailed > 0) problems.push(`${result.warmupFailed} warm-up calls not as expected`);
  if (result.ok !== result.planned) {
    problems.push(
      `${result.planned - result.ok} of ${result.planned} calls not as expected (status ${result.badStatus}, answer ${result.badAnswer}, errors ${result.errors}, unanswered ${result.unanswered}): ${result.firstProblem}`,
    );
  }
  if (result.sentPerSecond < result.rate * MIN_SENT_SHARE)
    problems.push(
      `generator fell behind: sent ${Math.round(result.sentPerSecond)} of ${result.rate} calls/s`,
    );
  const lateLimit = Math.max(MAX_SEND_LATE_P99_US, MAX_SEND_LATE_SHARE * result.serviceLatencyUs.p99);
  if (result.sendLateUs.p99 > lateLimit)
    problems.push(
      `generator late: p99 of send delay ${result.sendLateUs.p99} µs > ${Math.round(lateLimit)} µs`,
    );
  return {
    requests: result.planned,
    callsPerSecond: result.answeredPerSecond,
    // The server's CPU was watched over the warm-up too (the generator's start-up is idle time).
    cpuUsPerCall: (ticks * CLOCK_TICK_US) / Math.max(1, result.ok + result.warmupCalls),
    p50Us: result.latencyUs.p50,
    p99Us: result.latencyUs.p99,
    p999Us: result.latencyUs.p999,
    generatorCpuPercent: result.cpuPercent,
    openLoop: {
      rate: result.rate,
      sentPerSecond: result.sentPerSecond,
      maxUs: result.latencyUs.max,
      serviceLatencyUs: result.serviceLatencyUs,
      sendLateUs: result.sendLateUs,
      maxInFlight: result.maxInFlight,
    },
    otherLoadPercent,
    problems,
  };
}

/** A progress line for one run. */
export function describe(id: string, side: string, label: string, result: RunResult): string {
  const problems = result.problems.length > 0 ? `  INVALID: ${result.problems.join("; ")}` : "";
  const others =
    result.otherLoadPercent >= 5
      ? `  OTHER PROCESSES took ${Math.round(result.otherLoadPercent)} % of the server's CPU`
      : "";
  return (
    `scenario ${id} ${side.padEnd(9)} ${label.padEnd(8)} ${Math.round(result.callsPerSecond).toLocaleString("en-US").padStart(7)} calls/s` +
    `  p50 ${(result.p50Us / 1000).toFixed(2)} ms  p99 ${(result.p99Us / 1000).toFixed(2)} ms` +
    `  server CPU ${Math.round(result.cpuUsPerCall)} µs/call${problems}${others}`
  );
}

/**
 * Rounds in the order keyward, echo, echo, keyward, keyward, echo, … (A B B A A B), so that a
 * drift of the machine during the run affects both sides alike. Other pairs of sides (scenario
 * 1w: one worker and two) are passed as `sides`.
 */
export async function alternate<S extends string = Side>(
  rounds: number,
  run: (side: S, round: number) => Promise<RunResult>,
  sides: readonly [S, S] = ["keyward", "echo"] as unknown as readonly [S, S],
): Promise<Record<S, RunResult[]>> {
  const [a, b] = sides;
  const results = { [a]: [], [b]: [] } as unknown as Record<S, RunResult[]>;
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? [a, b] : [b, a];
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
  readonly generatorBusyPercent?: number;
  /** The most CPU other processes took on the server's CPU in any round, %. */
  readonly maxOtherLoadPercent: number;
  readonly valid: boolean;
}

export function summarize(runs: readonly RunResult[]): Summary {
  const of = (pick: (run: RunResult) => number) => median(runs.map(pick));
  const generator = runs.map((run) => run.generatorCpuPercent).filter((v) => v !== undefined);
  const busy = runs.map((run) => run.generatorBusyPercent).filter((v) => v !== undefined);
  return {
    callsPerSecond: of((run) => run.callsPerSecond),
    cpuUsPerCall: of((run) => run.cpuUsPerCall),
    p50Us: of((run) => run.p50Us),
    p99Us: of((run) => run.p99Us),
    p999Us: of((run) => run.p999Us),
    ...(generator.length > 0 && { generatorCpuPercent: median(generator) }),
    ...(busy.length > 0 && { generatorBusyPercent: median(busy) }),
    maxOtherLoadPercent: Math.max(0, ...runs.map((run) => run.otherLoadPercent)),
    valid: runs.length > 0 && runs.every((run) => run.problems.length === 0),
  };
}
