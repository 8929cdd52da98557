import { execFile, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { type BenchContext, FULL, QUICK, type ScenarioResult, signed } from "./context.js";
import { countedScenario } from "./counted-scenario.js";
import { forwardAuthLoad, forwardAuthNotes, forwardAuthScenario } from "./forward-auth-scenario.js";
import { requireNghttp2Client } from "./h2load.js";
import {
  authorizeCachedRequest,
  authorizeScenarios,
  checkScenario,
  issueKeyRequest,
  issueKeyScenario,
} from "./h2load-scenarios.js";
import { latencySweepNotes } from "./latency-sweep.js";
import { bogusScenario, notCachedScenario } from "./loadgen-scenarios.js";
import { machineInfo } from "./machine.js";
import { GENERATOR_BUSY_LIMIT_PERCENT, measureLoadgen } from "./measure.js";
import { postgresNotCachedScenario } from "./postgres-not-cached-scenario.js";
import { requirePostgres } from "./postgres-seed.js";
import { h2Load, type Profile, profileKeyward } from "./profile.js";
import { propagationScenario } from "./propagation-scenario.js";
import { type BenchReport, table, writeReport } from "./report.js";
import type { RssResult } from "./rss.js";
import { seedDatabase } from "./seed.js";
import { LOAD_CPU, SERVER_CPU } from "./servers.js";
import { tracingScenario } from "./tracing-scenario.js";
import { workersScenario } from "./workers-scenario.js";

// npm run bench [-- --quick] [-- --profile] [-- --keep-temp] [-- --only 9,2]
// Keyward against an echo server on the same grpc-js stack, both pinned to CPU 0, the load
// generators (h2load, bench/loadgen.ts) on CPU 1; see bench/README.md for the method.

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    profile: { type: "boolean", default: false },
    "keep-temp": { type: "boolean", default: false },
    only: { type: "string" },
  },
});
// What --only can pick: scenario 1 brings 6 and its sweep (6 runs at half of 1's maximum, on its
// servers); 8 compares itself with 1 only when 1 ran too; 12 brings 1, as its figures are a
// comparison with 1. 10 and 11 need PostgreSQL.
const SELECTABLE = ["1", "1w", "2", "3", "4", "5", "7", "8", "9", "10", "11", "12"];
const only = values.only?.split(",").map((id) => id.trim());
const unknown = only?.filter((id) => !SELECTABLE.includes(id)) ?? [];
if (only?.length === 0 || unknown.length > 0) {
  process.stderr.write(`bench: --only takes scenario ids among ${SELECTABLE.join(", ")}, comma-separated\n`);
  process.exit(2);
}
const selected = (id: string) => only === undefined || only.includes(id);
requireNghttp2Client();
if (spawnSync("taskset", ["-V"]).status !== 0) {
  process.stderr.write("bench: taskset not found; install it with: apt-get install util-linux\n");
  process.exit(1);
}

const config = values.quick ? QUICK : FULL;
const started = performance.now();
const progress = (line: string) => {
  const seconds = ((performance.now() - started) / 1000).toFixed(0).padStart(4);
  process.stderr.write(`[bench ${seconds} s] ${line}\n`);
};
const tempDir = mkdtempSync(join(tmpdir(), "keyward-bench-"));

/** Scenario 7: Keyward's cache holding every seeded key, measured in a process of its own. */
async function rssScenario(context: BenchContext): Promise<ScenarioResult> {
  const stdout = await new Promise<string>((resolve, reject) =>
    execFile(
      "taskset",
      ["-c", String(SERVER_CPU), process.execPath, "--expose-gc", "--import", "tsx", "bench/rss.ts"].concat([
        "--database",
        context.database,
        "--max-keys",
        String(context.config.keys),
      ]),
      { timeout: 300_000, killSignal: "SIGKILL" },
      (error, out, err) =>
        error ? reject(new Error(`rss.ts failed: ${error.message}\n${err}`)) : resolve(out),
    ),
  );
  const rss = JSON.parse(stdout) as RssResult;
  progress(
    `scenario 7 ${rss.keysCached} keys cached: RSS ${rss.rssMb.toFixed(0)} MB, heap ${rss.heapUsedMb.toFixed(0)} MB`,
  );
  const full = rss.keysCached >= 1_000_000;
  return {
    id: "7",
    name: `RSS with ${rss.keysCached.toLocaleString("en-US")} keys cached`,
    tool: "bench/rss.ts (node --expose-gc)",
    target: "RSS < 400 MB at 1,000,000 keys",
    met: full ? rss.rssMb < 400 : undefined,
    margin: full
      ? `${signed(rss.rssMb - 400, 0)} MB`
      : `n/a at ${rss.keysCached.toLocaleString("en-US")} keys`,
    details: {
      ...rss,
      bytesPerKey: Math.round(((rss.rssMb - rss.rssBeforeMb) * 2 ** 20) / rss.keysCached),
    },
    cells: { keyward: `${rss.rssMb.toFixed(0)} MB RSS (heap ${rss.heapUsedMb.toFixed(0)} MB)` },
  };
}

// The flags that shape the report, as the command line gave them.
const flags = [
  ...(values.quick ? ["--quick"] : []),
  ...(values.profile ? ["--profile"] : []),
  ...(only === undefined ? [] : ["--only", only.join(",")]),
];

async function main(): Promise<BenchReport> {
  const machine = machineInfo([SERVER_CPU, LOAD_CPU]);
  progress(`${machine.cpuModel}, ${machine.nproc} CPUs, node ${machine.node}; temp dir ${tempDir}`);
  if (selected("10") || selected("11")) await requirePostgres();
  const database = `sqlite:${join(tempDir, "keyward.db")}`;
  const secretsFile = join(tempDir, "secrets.txt");
  progress(`seeding ${config.keys.toLocaleString("en-US")} keys`);
  const seeded = await seedDatabase({ database, keys: config.keys, secretsFile });
  progress(`seeded in ${seeded.seconds.toFixed(1)} s`);
  const lines = readFileSync(secretsFile, "utf8").split("\n", config.keys);
  const context: BenchContext = {
    config,
    tempDir,
    database,
    secretsFile,
    secrets: { first: lines[0] as string, last: lines[config.keys - 1] as string },
    adminSecret: seeded.adminSecret,
    progress,
  };
  const scenarios: ScenarioResult[] = [];
  if (selected("7")) scenarios.push(await rssScenario(context));
  const authorize = selected("1") || selected("12") ? await authorizeScenarios(context) : [];
  scenarios.push(...authorize);
  const scenario1 = authorize.find((scenario) => scenario.id === "1");
  if (selected("8")) scenarios.push(await countedScenario(context, scenario1?.keyward?.callsPerSecond ?? 0));
  if (selected("12")) scenarios.push(await tracingScenario(context, scenario1));
  if (selected("1w")) scenarios.push(await workersScenario(context));
  if (selected("2")) scenarios.push(await checkScenario(context));
  if (selected("3")) scenarios.push(await notCachedScenario(context, config.keys));
  if (selected("4")) scenarios.push(await bogusScenario(context));
  if (selected("5")) scenarios.push(await issueKeyScenario(context));
  if (selected("9")) scenarios.push(await forwardAuthScenario(context));
  if (selected("10")) scenarios.push(await propagationScenario(context));
  if (selected("11")) scenarios.push(await postgresNotCachedScenario(context));
  // Numeric order: 1, 1w, 2, …, 9, 10, 11, 12.
  scenarios.sort((a, b) => a.id.localeCompare(b.id, "en", { numeric: true }));
  const notes = [
    ...forwardAuthNotes(scenarios),
    ...generatorNotes(scenarios),
    ...latencyNotes(scenarios),
    ...latencySweepNotes(scenarios),
    ...workersNotes(scenarios),
    ...disturbanceNotes(scenarios),
  ];
  const profiles: Record<string, Profile> = {};
  if (values.profile) {
    progress("profiling Keyward under the loads of scenarios 1, 3, 5 and 9 (--cpu-prof), those selected");
    if (selected("1")) {
      const authorize = h2Load(context, authorizeCachedRequest(context), 100_000);
      profiles.authorizeCached = await profileKeyward(context, "authorize", authorize);
    }
    if (selected("3")) {
      // A fresh process has cached nothing: every key of the slice is a store lookup.
      const notCached = ["--keys", secretsFile, "--from", "1", "--count", "60000", "--seconds", "10"];
      profiles.authorizeNotCached = await profileKeyward(context, "not-cached", (keyward) =>
        measureLoadgen(keyward, [...notCached, "--expect", "ALLOWED"]),
      );
    }
    if (selected("5")) {
      const issue = h2Load(context, issueKeyRequest(context), 5_000);
      profiles.issueKey = await profileKeyward(context, "issue-key", issue);
    }
    if (selected("9")) {
      const forwardAuth = forwardAuthLoad(context, 200_000);
      profiles.forwardAuth = await profileKeyward(context, "forward-auth", forwardAuth, { http: true });
    }
  }
  return {
    machine,
    config,
    command: `npm run bench${flags.length > 0 ? ` -- ${flags.join(" ")}` : ""}`,
    durationSeconds: (performance.now() - started) / 1000,
    scenarios,
    notes,
    ...(values.profile && { profiles }),
  };
}

/**
 * The generator of scenarios 3, 4 and 11 against h2load on the same echo server: what each drove it
 * to, how busy the generator was, and whether a ratio was refused as generator-bound.
 */
function generatorNotes(scenarios: readonly ScenarioResult[]): string[] {
  const percent = (value: number | undefined) => `${Math.round(value ?? 0)} %`;
  const calls = (value: number | undefined) => Math.round(value ?? 0).toLocaleString("en-US");
  const sides = scenarios
    .filter((s) => s.id === "3" || s.id === "4" || s.id === "11")
    .map((s) => {
      const h2load = s.details?.echoWithH2load as
        | { callsPerSecond: number; loadgenShare: number }
        | undefined;
      return (
        `scenario ${s.id}: the echo server answered bench/loadgen.ts ${calls(s.echo?.callsPerSecond)} calls/s, ` +
        `h2load ${calls(h2load?.callsPerSecond)} (${percent((h2load?.loadgenShare ?? 0) * 100)}); generator busy ` +
        `${percent(s.echo?.generatorBusyPercent)} against echo, ${percent(s.keyward?.generatorBusyPercent)} against Keyward` +
        (s.refused === undefined ? "" : ` — ratio REFUSED, ${s.refused}`)
      );
    });
  if (sides.length === 0) return [];
  return [
    `${sides.join("; ")}. Busy = running or waiting for its CPU (medians); a run at ≥ ${GENERATOR_BUSY_LIMIT_PERCENT} % ` +
      "measured the generator, not the server, and its scenario's ratio is refused.",
  ];
}

/** Scenario 6: how punctual the open-loop generator was, next to the p99 it measured. */
function latencyNotes(scenarios: readonly ScenarioResult[]): string[] {
  const s6 = scenarios.find((s) => s.id === "6");
  const open = s6?.details?.openLoop as
    | Record<
        "keyward" | "echo",
        { sendLateUs: { p99: number; max: number }; fromActualSendUs: { p99: number } }
      >
    | undefined;
  if (s6 === undefined || open === undefined) return [];
  const ms = (us: number) => (us / 1000).toFixed(2);
  const side = (name: "keyward" | "echo") =>
    `${name} sends late by p99 ${ms(open[name].sendLateUs.p99)} ms (max ${ms(open[name].sendLateUs.max)} ms), ` +
    `p99 from the actual send ${ms(open[name].fromActualSendUs.p99)} ms`;
  return [
    `scenario 6 (open loop, latency from the intended send time): ${side("keyward")}; ${side("echo")}. ` +
      "Sends late by more than 0.5 ms at p99, and by more than a tenth of the p99 from the actual send, make a run invalid.",
  ];
}

/** Scenario 1w: what h2load took of the shared CPUs, and how the workers shared the work. */
function workersNotes(scenarios: readonly ScenarioResult[]): string[] {
  const details = scenarios.find((s) => s.id === "1w")?.details;
  if (details === undefined) return [];
  const h2load = details.h2loadCpuPercent as { workers1: number; workers2: number };
  const shares = (details.workerSharesPercent as (readonly number[] | undefined)[])
    .map((round) => round?.map((share) => `${Math.round(share)} %`).join("/"))
    .join(", ");
  return [
    `scenario 1w: ${details.pinning}; h2load used ${h2load.workers1} % of a CPU against 1 worker and ` +
      `${h2load.workers2} % against 2, CPU the workers could not have; the 2 workers' shares of their CPU time per round: ${shares}.`,
  ];
}

/** Runs during which other processes took a noticeable share of the server's CPU. */
function disturbanceNotes(scenarios: readonly ScenarioResult[]): string[] {
  const disturbed: string[] = [];
  for (const scenario of scenarios) {
    const runs = (scenario.runs ?? scenario.details?.runs) as
      | Record<string, readonly { otherLoadPercent: number }[]>
      | undefined;
    for (const [side, list] of Object.entries(runs ?? {})) {
      list.forEach((run, round) => {
        if (run.otherLoadPercent >= 10)
          disturbed.push(`${scenario.id} ${side} round ${round + 1} (${Math.round(run.otherLoadPercent)} %)`);
      });
    }
  }
  if (disturbed.length === 0) return [];
  return [
    `other processes took ≥ 10 % of the server CPU during: ${disturbed.join(", ")}; ` +
      "those rounds measured a shared CPU, re-run on a quiet machine before trusting them.",
  ];
}

try {
  const report = await main();
  // latest.json is the last full run of every scenario; a quick or partial run does not replace it.
  const output =
    values.quick || only !== undefined ? "bench/results/quick.json" : "bench/results/latest.json";
  writeReport(output, report);
  process.stdout.write(`${table(report)}\n\n`);
  for (const note of report.notes) process.stdout.write(`note: ${note}\n`);
  for (const [name, { top, byArea }] of Object.entries(report.profiles ?? {})) {
    const areas = Object.entries(byArea).map(([where, percent]) => `${where} ${percent} %`);
    process.stdout.write(`\nprofile ${name}, self time by area: ${areas.join(", ")}\ntop functions:\n`);
    for (const t of top)
      process.stdout.write(`  ${t.percent.toFixed(1).padStart(5)} %  ${t.function}  ${t.location}\n`);
  }
  process.stdout.write(`\n${JSON.stringify(report)}\n`);
  progress(`done in ${report.durationSeconds.toFixed(0)} s; results in ${output}`);
} finally {
  if (!values["keep-temp"]) rmSync(tempDir, { recursive: true, force: true });
}
