import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import type { BenchConfig, ScenarioResult } from "./context.js";
import type { MachineInfo } from "./machine.js";
import type { Summary } from "./measure.js";
import type { Profile } from "./profile.js";

/** Everything a run produced: bench/results/latest.json and the JSON on stdout. */
export interface BenchReport {
  readonly machine: MachineInfo;
  readonly config: BenchConfig;
  readonly command: string;
  readonly durationSeconds: number;
  readonly scenarios: readonly ScenarioResult[];
  readonly notes: readonly string[];
  /** `--profile`: top self-time functions of Keyward under a scenario's load. */
  readonly profiles?: Readonly<Record<string, Profile>>;
}

const rate = (value: number) => Math.round(value).toLocaleString("en-US");
const ms = (us: number) => (us / 1000).toFixed(2);

function throughput(summary: Summary | undefined, id: string): string {
  if (summary === undefined) return "—";
  const invalid = summary.valid ? "" : " (INVALID)";
  return `${rate(summary.callsPerSecond)}${id === "5" ? " keys/s" : ""}${invalid}`;
}

function latency(summary: Summary | undefined): string {
  return summary === undefined ? "—" : `${ms(summary.p50Us)} / ${ms(summary.p99Us)} / ${ms(summary.p999Us)}`;
}

function cpu(result: ScenarioResult): string {
  if (result.cells?.cpu !== undefined) return result.cells.cpu;
  if (result.keyward === undefined || result.echo === undefined) return "—";
  return `${Math.round(result.keyward.cpuUsPerCall)} / ${Math.round(result.echo.cpuUsPerCall)}`;
}

/** The ratio of medians, and the range of the rounds' own ratios when there are several. */
function ratioCell(result: ScenarioResult): string {
  if (result.ratio === undefined) return "—";
  if (result.refused !== undefined) return "n/a";
  const rounds = result.roundRatios ?? [];
  if (rounds.length < 2) return result.ratio.toFixed(2);
  return `${result.ratio.toFixed(2)} [${Math.min(...rounds).toFixed(2)}–${Math.max(...rounds).toFixed(2)}]`;
}

function verdict(met: boolean | undefined): string {
  return met === undefined ? "n/a" : met ? "MET" : "MISSED";
}

/** The table printed on stdout: one line per scenario, medians over rounds. */
export function table(report: BenchReport): string {
  const header = [
    "scenario",
    "keyward calls/s",
    "echo calls/s",
    "ratio [rounds]",
    "target",
    "met?",
    "margin",
    "keyward p50/p99/p99.9 ms",
    "echo p50/p99/p99.9 ms",
    "CPU µs/call k/e",
  ];
  const rows = report.scenarios.map((s) => [
    `${s.id}. ${s.name}`,
    s.cells?.keyward ?? throughput(s.keyward, s.id),
    s.cells?.echo ?? throughput(s.echo, s.id),
    ratioCell(s),
    s.target,
    s.cells?.met ?? verdict(s.met),
    s.margin,
    latency(s.keyward),
    latency(s.echo),
    cpu(s),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (cells: readonly string[]) =>
    `| ${cells.map((c, i) => c.padEnd(widths[i] as number)).join(" | ")} |`;
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

export function writeReport(path: string, report: BenchReport): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(report, null, 2)}\n`);
}
