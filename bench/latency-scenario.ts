import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { type BenchContext, type BenchRequest, h2Request, type ScenarioResult, signed } from "./context.js";
import { grpcFrame } from "./grpc-frame.js";
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
import { median } from "./percentiles.js";
import type { PinnedServer } from "./processes.js";

/** Connections the open-loop generator spreads its requests over (round-robin). */
const CONNECTIONS = 4;
/** The first part of each run's schedule is sent and checked but not recorded. */
const WARMUP_SECONDS = 1;

/**
 * Scenario 6: latency of Authorize with a cached key at a fixed open-loop rate (half of
 * scenario 1's Keyward maximum), from bench/open-loop.ts: evenly spaced intended send times,
 * latency from the intended time, for Keyward and the echo server in alternating rounds. Each
 * round also measures one call at a time with h2load (-c 1 -m 1): the latency without queueing.
 */
export async function latencyScenario(
  context: BenchContext,
  servers: Record<Side, PinnedServer>,
  request: BenchRequest,
  answer: Buffer,
  frames: Record<Side, FrameSize>,
  rate: number,
): Promise<ScenarioResult> {
  const expectFile = join(context.tempDir, "authorize-cached-answer.bin");
  writeFileSync(expectFile, grpcFrame(answer));
  const args = [
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
    String(context.config.latencySeconds),
    "--warmup-seconds",
    String(WARMUP_SECONDS),
    "--connections",
    String(CONNECTIONS),
  ];
  const concurrencyOne: Record<Side, RunResult[]> = { keyward: [], echo: [] };
  const runs = await alternate(context.config.rounds, async (side, round) => {
    const server = servers[side];
    const result = await measureOpenLoop(server, args);
    context.progress(`${describe("6", side, `round ${round + 1}`, result)}${openLoopLine(result)}`);
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
  return {
    id: "6",
    name: `Authorize latency, open loop at ${rate.toLocaleString("en-US")} calls/s (half of scenario 1)`,
    tool: `bench/open-loop.ts, ${CONNECTIONS} connections, evenly spaced, latency from the intended send`,
    keyward,
    echo,
    target: "p99 < 1 ms",
    met: keyward.valid ? keyward.p99Us < 1000 : undefined,
    margin: `${signed((keyward.p99Us - 1000) / 1000)} ms`,
    runs,
    details: {
      rate,
      connections: CONNECTIONS,
      warmupSeconds: WARMUP_SECONDS,
      maxSendLateP99Us: MAX_SEND_LATE_P99_US,
      openLoop: { keyward: openLoopSummary(runs.keyward), echo: openLoopSummary(runs.echo) },
      concurrencyOne: { keyward: summarize(concurrencyOne.keyward), echo: summarize(concurrencyOne.echo) },
      concurrencyOneRuns: concurrencyOne,
    },
  };
}

/** The progress line's open-loop part: achieved rate, the generator's punctuality, the uncorrected p99. */
function openLoopLine(result: RunResult): string {
  const open = result.openLoop;
  if (open === undefined) return "";
  const ms = (us: number) => (us / 1000).toFixed(2);
  return (
    `  sent ${Math.round(open.sentPerSecond)}/s, late p99 ${ms(open.sendLateUs.p99)} ms max ${ms(open.sendLateUs.max)} ms` +
    `; from actual send p99 ${ms(open.serviceLatencyUs.p99)} ms; max ${ms(open.maxUs)} ms` +
    (result.generatorCpuPercent !== undefined && result.generatorCpuPercent < 90
      ? `  GENERATOR HAD ITS CPU ONLY ${Math.round(result.generatorCpuPercent)} % OF THE TIME`
      : "")
  );
}

/** Medians over rounds of what the open-loop runs add to a RunResult, µs. */
function openLoopSummary(runs: readonly RunResult[]) {
  const of = (pick: (run: NonNullable<RunResult["openLoop"]>) => number) =>
    median(runs.flatMap((run) => (run.openLoop === undefined ? [] : [pick(run.openLoop)])));
  return {
    sentPerSecond: of((o) => o.sentPerSecond),
    maxUs: of((o) => o.maxUs),
    fromActualSendUs: {
      p50: of((o) => o.serviceLatencyUs.p50),
      p99: of((o) => o.serviceLatencyUs.p99),
      p999: of((o) => o.serviceLatencyUs.p999),
    },
    sendLateUs: {
      p50: of((o) => o.sendLateUs.p50),
      p99: of((o) => o.sendLateUs.p99),
      max: of((o) => o.sendLateUs.max),
    },
    maxInFlight: of((o) => o.maxInFlight),
  };
}
