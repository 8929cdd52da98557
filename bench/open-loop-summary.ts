import type { RunResult, Summary } from "./measure.js";
import { median } from "./median.js";

/** The progress line's open-loop part: achieved rate, the generator's punctuality, the uncorrected p99. */
export function openLoopLine(result: RunResult): string {
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
export function openLoopSummary(runs: readonly RunResult[]) {
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

/**
 * How much of its CPU the server needed at this rate, %: CPU per call × the offered rate, capped
 * at 100 (a server that fell behind spent its CPU over the drain too). Near 100, it was saturated.
 */
export function busyPercent(summary: Summary, rate: number): number {
  return Math.min(100, (summary.cpuUsPerCall * rate) / 10_000);
}

/** The table's CPU cell of an open-loop row: µs per call and how busy that kept the server's CPU. */
export function openLoopCpuCell(keyward: Summary, echo: Summary, rate: number): string {
  const busy = (summary: Summary) => `${Math.round(busyPercent(summary, rate))} %`;
  return (
    `${Math.round(keyward.cpuUsPerCall)} / ${Math.round(echo.cpuUsPerCall)}` +
    ` (CPU busy ${busy(keyward)} / ${busy(echo)})`
  );
}
