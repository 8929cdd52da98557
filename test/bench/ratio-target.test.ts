import { describe, expect, it } from "vitest";
import { ratioTarget, type ScenarioResult } from "../../bench/context.js";
import { GENERATOR_BOUND, type RunResult, summarize } from "../../bench/measure.js";
import { type BenchReport, table } from "../../bench/report.js";

// A ratio of scenarios 3 and 4 is only the server's if neither side's generator was the limit.

const run = (callsPerSecond: number, problems: readonly string[] = [], busy = 30): RunResult => ({
  requests: callsPerSecond * 4,
  callsPerSecond,
  cpuUsPerCall: 60,
  p50Us: 1000,
  p99Us: 5000,
  p999Us: 9000,
  generatorCpuPercent: busy,
  generatorBusyPercent: busy,
  otherLoadPercent: 0,
  problems,
});

describe("ratioTarget", () => {
  it("judges the ratio of medians when every run was valid", () => {
    const runs = { keyward: [run(9000)], echo: [run(10_000)] };
    const result = ratioTarget(runs, summarize(runs.keyward), summarize(runs.echo), 0.8);
    expect(result.ratio).toBeCloseTo(0.9);
    expect(result.met).toBe(true);
    expect(result.refused).toBeUndefined();
  });

  it("refuses the ratio, with the reason, when a run on either side was generator-bound", () => {
    const bound = run(6000, [`${GENERATOR_BOUND}: its thread was busy 97 % of the run`], 97);
    const runs = { keyward: [run(6000), run(5900)], echo: [run(6100), bound] };
    const result = ratioTarget(runs, summarize(runs.keyward), summarize(runs.echo), 0.8);
    expect(result.met).toBeUndefined();
    expect(result.refused).toBe("generator-bound: echo round 2 (97 %)");
    expect(result.margin).toBe("n/a: generator-bound: echo round 2 (97 %)");

    const row: ScenarioResult = {
      id: "3",
      name: "Authorize, key not cached",
      tool: "bench/loadgen.ts",
      keyward: summarize(runs.keyward),
      echo: summarize(runs.echo),
      ...result,
    };
    const line = table({ scenarios: [row] } as unknown as BenchReport).split("\n")[2] ?? "";
    expect(line.split("|").map((cell) => cell.trim())).toEqual(
      expect.arrayContaining(["6,050 (INVALID)", "n/a", "n/a: generator-bound: echo round 2 (97 %)"]),
    );
  });

  it("leaves a ratio unjudged but not refused when a run was invalid for another reason", () => {
    const runs = { keyward: [run(9000, ["3 of 100 calls not as expected"])], echo: [run(10_000)] };
    const result = ratioTarget(runs, summarize(runs.keyward), summarize(runs.echo), 0.8);
    expect(result.met).toBeUndefined();
    expect(result.refused).toBeUndefined();
  });
});
