import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { type BenchContext, type BenchRequest, h2Request, type ScenarioResult, signed } from "./context.js";
import { grpcFrame } from "./grpc-frame.js";
import { type LatencyPoint, latencySweep, type MeasureOpenLoop, P99_TARGET_US } from "./latency-sweep.js";
import {
  alternate,
  describe,
  type FrameSize,
  MAX_SEND_LATE_P99_US,
  measureH2,
  measureOpenLoop,
  type RunResult,
  type Side,
  summarize,
} from "./measure.js";
import { busyPercent, openLoopCpuCell, openLoopLine, openLoopSummary } from "./open-loop-summary.js";
import type { PinnedServer } from "./processes.js";

/** Connections the open-loop generator spreads its requests over (round-robin). */
const CONNECTIONS = 4;
/** The first part of each run's schedule is sent and checked but not recorded. */
const WARMUP_SECONDS = 1;
/** The judged rate, as the issue defines it: half of scenario 1's Keyward maximum. */
const JUDGED_FRACTION = 0.5;
/** The margin calls the echo server saturated from this share of its CPU busy (CPU per call × rate). */
const SATURATED_PERCENT = 90;
/**
 * Below that, a p99 of this much says the echo server fell behind: a backlog longer than the
 * machine's scheduling gaps (a few ms, machine.schedulingGapsMs) explain, e.g. after a stall.
 */
const FELL_BEHIND_P99_US = 20_000;

/**
 * Scenario 6: latency of Authorize with a cached key at a fixed open-loop rate (half of
 * scenario 1's Keyward maximum), from bench/open-loop.ts: evenly spaced intended send times,
 * latency from the intended time, for Keyward and the echo server in alternating rounds. Each
 * round also measures one call at a time with h2load (-c 1 -m 1): the latency without queueing.
 * Then the sweep at lower rates (bench/latency-sweep.ts), which adds rows 6b, 6c, ….
 */
export async function latencyScenario(
  context: BenchContext,
  servers: Record<Side, PinnedServer>,
  request: BenchRequest,
  answer: Buffer,
  frames: Record<Side, FrameSize>,
  scenario1Max: number,
): Promise<ScenarioResult[]> {
  const expectFile = join(context.tempDir, "authorize-cached-answer.bin");
  writeFileSync(expectFile, grpcFrame(answer));
  const args = (rate: number, seconds: number) => [
    "--path",
    request.path,
    "--body",
    request.bodyFile,
    "--expect",
    expectFile,
    ...Object.entries(request.headers).flatMap(([name, value]) => ["--header", `${name}: ${value}`]),
    "--rate",
    String(rate),
    "--seconds",
    String(seconds),
    "--warmup-seconds",
    String(WARMUP_SECONDS),
    "--connections",
    String(CONNECTIONS),
  ];
  const measure: MeasureOpenLoop = async (id, side, label, rate, seconds) => {
    const result = await measureOpenLoop(servers[side], args(rate, seconds));
    context.progress(`${describe(id, side, label, result)}${openLoopLine(result)}`);
    return result;
  };
  const rate = Math.round(scenario1Max * JUDGED_FRACTION);
  const concurrencyOne: Record<Side, RunResult[]> = { keyward: [], echo: [] };
  const runs = await alternate(context.config.rounds, async (side, round) => {
    const server = servers[side];
    const result = await measure("6", side, `round ${round + 1}`, rate, context.config.latencySeconds);
    // Also one call at a time (no queueing at all): the latency a single caller sees.
    const single = {
      requests: Math.round(1500 * context.config.latencySeconds),
      clients: 1,
      streams: 1,
      logFile: join(context.tempDir, "h2load-6.tsv"),
      timeoutSeconds: 180,
    };
    const alone = await measureH2(server, h2Request(server, request), single, frames[side]);
    context.progress(describe("6", side, "1 × 1", alone));
    concurrencyOne[side].push(alone);
    return result;
  });
  const keyward = summarize(runs.keyward);
  const echo = summarize(runs.echo);
  const judged = { id: "6", fraction: JUDGED_FRACTION, rate, keyward, echo };
  const sweep = await latencySweep(context, measure, scenario1Max, judged);
  const s6: ScenarioResult = {
    id: "6",
    name: `Authorize latency, open loop at ${rate.toLocaleString("en-US")} calls/s (half of scenario 1)`,
    tool: `bench/open-loop.ts, ${CONNECTIONS} connections, evenly spaced, latency from the intended send`,
    keyward,
    echo,
    target: "p99 < 1 ms",
    met: keyward.valid ? keyward.p99Us < P99_TARGET_US : undefined,
    margin: `${signed((keyward.p99Us - P99_TARGET_US) / 1000)} ms${echoAlsoMisses(judged)}`,
    runs,
    details: {
      rate,
      connections: CONNECTIONS,
      warmupSeconds: WARMUP_SECONDS,
      maxSendLateP99Us: MAX_SEND_LATE_P99_US,
      openLoop: { keyward: openLoopSummary(runs.keyward), echo: openLoopSummary(runs.echo) },
      concurrencyOne: { keyward: summarize(concurrencyOne.keyward), echo: summarize(concurrencyOne.echo) },
      concurrencyOneRuns: concurrencyOne,
      echoAlsoMisses: echo.p99Us >= P99_TARGET_US && keyward.p99Us >= P99_TARGET_US,
      sweep: sweep.details,
    },
    cells: { cpu: openLoopCpuCell(keyward, echo, rate) },
  };
  return [s6, ...sweep.rows];
}

/**
 * When Keyward misses and the echo server (the transport's ceiling) misses too, the target is
 * beyond the transport at this rate: say so, and whether the echo server was saturated.
 */
function echoAlsoMisses(point: LatencyPoint): string {
  const { keyward, echo, rate } = point;
  if (keyward.p99Us < P99_TARGET_US || echo.p99Us < P99_TARGET_US) return "";
  const p99 = `p99 ${(echo.p99Us / 1000).toFixed(2)} ms${echo.valid ? "" : ", INVALID run"}`;
  const busy = busyPercent(echo, rate);
  const why =
    busy >= SATURATED_PERCENT
      ? "transport saturated"
      : echo.p99Us >= FELL_BEHIND_P99_US
        ? "transport fell behind"
        : "the transport itself misses at this rate";
  return `; echo also misses (${p99}, CPU busy ${Math.round(busy)} %): ${why}`;
}
