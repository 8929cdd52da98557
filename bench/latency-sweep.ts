import type { BenchContext, ScenarioResult } from "./context.js";
import { alternate, type RunResult, type Side, type Summary, summarize } from "./measure.js";
import { busyPercent, openLoopCpuCell, openLoopSummary } from "./open-loop-summary.js";

/** Scenario 6's target: p99 below this many µs. */
export const P99_TARGET_US = 1000;

/** One rate of scenario 6, the judged one or a swept one: medians over its rounds. */
export interface LatencyPoint {
  /** Its row in the table: 6 for the judged rate, 6b, 6c, … for the sweep. */
  readonly id: string;
  /** The rate as a fraction of scenario 1's Keyward maximum. */
  readonly fraction: number;
  readonly rate: number;
  readonly keyward: Summary;
  readonly echo: Summary;
}

/** One open-loop run of a side at a rate; `id` and `label` are for its progress line. */
export type MeasureOpenLoop = (
  id: string,
  side: Side,
  label: string,
  rate: number,
  seconds: number,
) => Promise<RunResult>;

/** The highest rate at which a side's p99 was below the target, among valid points. */
export interface HighestBelowTarget {
  readonly id: string;
  readonly fraction: number;
  readonly rate: number;
}

/**
 * Scenario 6's sweep: the same open-loop measurement at lower fractions of scenario 1's maximum,
 * Keyward and echo in alternating rounds (fewer and shorter than at the judged rate, see
 * BenchConfig.latencySweep), to show the rate up to which each holds p99 < 1 ms. Returns a row per
 * rate, a row with the highest such rate per side (the judged point counts too), and the JSON.
 */
export async function latencySweep(
  context: BenchContext,
  measure: MeasureOpenLoop,
  scenario1Max: number,
  judged: LatencyPoint,
): Promise<{ rows: ScenarioResult[]; details: Record<string, unknown> }> {
  const { fractions, rounds, seconds } = context.config.latencySweep;
  const points: LatencyPoint[] = [judged];
  const rows: ScenarioResult[] = [];
  const rowId = (index: number) => `6${String.fromCharCode("b".charCodeAt(0) + index)}`;
  for (const [index, fraction] of fractions.entries()) {
    const id = rowId(index);
    const rate = Math.round(scenario1Max * fraction);
    // Every other rate starts with the echo server, so that one round (--quick) is not always Keyward first.
    const order: readonly [Side, Side] = index % 2 === 0 ? ["keyward", "echo"] : ["echo", "keyward"];
    const runs = await alternate(
      rounds,
      (side, round) => measure(id, side, `round ${round + 1}`, rate, seconds),
      order,
    );
    const point = { id, fraction, rate, keyward: summarize(runs.keyward), echo: summarize(runs.echo) };
    points.push(point);
    rows.push({
      id,
      name: `Authorize latency sweep, open loop at ${count(rate)} calls/s (${fraction} × scenario 1)`,
      tool: `bench/open-loop.ts as in 6, ${rounds} round(s) of ${seconds} s`,
      keyward: point.keyward,
      echo: point.echo,
      target: "p99 < 1 ms? (not judged)",
      met: undefined,
      margin: `keyward ${belowTarget(point.keyward)}, echo ${belowTarget(point.echo)}`,
      runs,
      details: {
        fraction,
        rate,
        rounds,
        seconds,
        openLoop: { keyward: openLoopSummary(runs.keyward), echo: openLoopSummary(runs.echo) },
      },
      cells: { met: "—", cpu: openLoopCpuCell(point.keyward, point.echo, rate) },
    });
  }
  const highest = {
    keyward: highestBelowTarget(points, "keyward"),
    echo: highestBelowTarget(points, "echo"),
  };
  const swept = `${judged.id}–${points.at(-1)?.id}`;
  const highestCell = (side: Side) => {
    const top = highest[side];
    return top === undefined
      ? `none of ${swept}`
      : `${count(top.rate)} calls/s (${top.fraction} × scenario 1, row ${top.id})`;
  };
  const gaps = (["keyward", "echo"] as const).flatMap((side) => {
    const missed = missedBelow(points, side, highest[side]);
    return missed.length === 0 ? [] : [`${side} missed again lower, at ${missed.join(", ")}`];
  });
  rows.push({
    id: rowId(fractions.length),
    name: `highest rate with p99 < 1 ms (rows ${swept})`,
    tool: "rows 6 and the sweep",
    target: "none",
    met: undefined,
    margin: gaps.length === 0 ? "—" : gaps.join("; "),
    cells: { keyward: highestCell("keyward"), echo: highestCell("echo"), met: "—", cpu: "—" },
  });
  return {
    rows,
    details: {
      fractions,
      rounds,
      seconds,
      points: points.map((point) => ({
        id: point.id,
        judged: point === judged,
        fraction: point.fraction,
        rate: point.rate,
        keyward: pointSide(point.keyward, point.rate),
        echo: pointSide(point.echo, point.rate),
      })),
      highestRateP99Below1ms: { keyward: highest.keyward ?? null, echo: highest.echo ?? null },
      lowerRatesMissed: gaps,
    },
  };
}

const count = (value: number) => Math.round(value).toLocaleString("en-US");

/** "yes" or "no" for p99 < 1 ms, or "invalid" when a run of the point did not count. */
export function belowTarget(summary: Summary): string {
  if (!summary.valid) return "invalid";
  return summary.p99Us < P99_TARGET_US ? "yes" : "no";
}

function pointSide(summary: Summary, rate: number) {
  return {
    p50Us: summary.p50Us,
    p99Us: summary.p99Us,
    p999Us: summary.p999Us,
    cpuUsPerCall: summary.cpuUsPerCall,
    serverCpuBusyPercent: busyPercent(summary, rate),
    valid: summary.valid,
    p99Below1ms: summary.valid ? summary.p99Us < P99_TARGET_US : null,
  };
}

function highestBelowTarget(points: readonly LatencyPoint[], side: Side): HighestBelowTarget | undefined {
  const below = points.filter((p) => p[side].valid && p[side].p99Us < P99_TARGET_US);
  const top = below.sort((a, b) => b.rate - a.rate)[0];
  return top === undefined ? undefined : { id: top.id, fraction: top.fraction, rate: top.rate };
}

/** Valid points below the highest passing rate that missed: a machine that moved during the sweep. */
function missedBelow(
  points: readonly LatencyPoint[],
  side: Side,
  highest: HighestBelowTarget | undefined,
): string[] {
  if (highest === undefined) return [];
  return points
    .filter((p) => p.rate < highest.rate && p[side].valid && p[side].p99Us >= P99_TARGET_US)
    .map((p) => p.id);
}

/** The note under the table: up to which rate each side held the target, and what the judged rate was. */
export function latencySweepNotes(scenarios: readonly ScenarioResult[]): string[] {
  const sweep = scenarios.find((s) => s.id === "6")?.details?.sweep as
    | {
        fractions: readonly number[];
        rounds: number;
        seconds: number;
        highestRateP99Below1ms: Record<Side, HighestBelowTarget | null>;
      }
    | undefined;
  if (sweep === undefined) return [];
  const upTo = (side: Side) => {
    const top = sweep.highestRateP99Below1ms[side];
    return top === null
      ? "at none of the rates measured"
      : `up to ${count(top.rate)} calls/s (${top.fraction} of scenario 1's maximum)`;
  };
  return [
    `scenario 6 sweep (${sweep.fractions.join(", ")} of scenario 1's Keyward maximum, ${sweep.rounds} round(s) of ` +
      `${sweep.seconds} s each: fewer and shorter than at the judged rate, not judged): Keyward held p99 < 1 ms ` +
      `${upTo("keyward")}, the echo server (the transport's own ceiling) ${upTo("echo")}.`,
  ];
}
