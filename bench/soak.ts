import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { parseDuration } from "../src/cli/duration.js";
import { generateKey } from "../src/domain/key-format.js";
import { histogramPercentiles } from "./histogram.js";
import { freePort, startPinned } from "./processes.js";
import { seedDatabase } from "./seed.js";
import { createMixedLoad, MIX, OPERATIONS, type Operation } from "./soak-load.js";
import {
  createRssSampler,
  type Growth,
  type HeapRecord,
  heapGrowth,
  liveHeaps,
  type RssSample,
  rssGrowth,
} from "./soak-memory.js";

// npm run soak [-- --duration 10m] [-- --rate 500] [-- --warmup 2m] [-- --cache-size 5000] [-- --keep-temp]
// Keyward as `npm start` runs it (default workers: one per CPU; a key cache small enough to be full
// before the warm-up ends, see bench/README.md) on a temp database under a bounded
// mixed load (bench/soak-load.ts) for --duration, sampling the RSS of the primary and of every
// worker, and their live heap through bench/heap-probe.mjs. Fails (exit 1) on any unexpected answer, failed call, error log line or worker
// restart, or when a process's RSS or heap grew more than 10 % from the end of the warm-up (default:
// the first 20 % of the run) to the end. See bench/README.md.

const { values } = parseArgs({
  options: {
    duration: { type: "string", default: "10m" },
    rate: { type: "string", default: "500" },
    warmup: { type: "string" },
    connections: { type: "string", default: "8" },
    "cache-size": { type: "string", default: "5000" },
    "keep-temp": { type: "boolean", default: false },
  },
});
const parsedDuration = parseDuration(values.duration);
const warmupSeconds = values.warmup === undefined ? undefined : parseDuration(values.warmup);
const rate = Number(values.rate);
const connections = Number(values.connections);
const cacheSize = values["cache-size"];
const durationSeconds = parsedDuration ?? 0;
if (
  parsedDuration === undefined ||
  durationSeconds < 10 ||
  (values.warmup !== undefined && warmupSeconds === undefined) ||
  (warmupSeconds ?? 0) >= durationSeconds ||
  !(rate > 0) ||
  !(connections > 0) ||
  !/^\d+$/.test(cacheSize)
) {
  process.stderr.write(
    "usage: npm run soak -- [--duration 10m] [--rate 500] [--warmup 2m] [--connections 8] [--cache-size 5000]\n",
  );
  process.exit(2);
}
if (spawnSync("taskset", ["-V"]).status !== 0) {
  process.stderr.write("soak: taskset not found; install it with: apt-get install util-linux\n");
  process.exit(1);
}

/** Largest growth allowed from the end of the warm-up to the end, per process. */
const MAX_GROWTH_PERCENT = 10;
const HOT_KEYS = 50;
/** Miss keys come back after at least this long, beyond the default KEYWARD_CACHE_TTL (30 s): each use reads the store. */
const MISS_REUSE_SECONDS = 45;
/**
 * At least this many miss keys: presented once each before the load, they fill every worker's
 * bounded structures that grow with distinct keys (the --cache-size key cache, and the 10,000 kept
 * answers of src/cache/answer-cache.ts) before the warm-up ends, so that growth after it is not
 * a bounded cache still filling.
 */
const MIN_MISS_KEYS = 20_000;
/** Bogus keys come back after this long, beyond the default KEYWARD_NEGATIVE_CACHE_TTL (5 s). */
const BOGUS_REUSE_SECONDS = 10;

const warmup = warmupSeconds ?? Math.round(durationSeconds * 0.2);
const sampleEvery = Math.min(5, Math.max(1, durationSeconds / 120));
const started = performance.now();
const progress = (line: string) => {
  const seconds = ((performance.now() - started) / 1000).toFixed(0).padStart(4);
  process.stderr.write(`[soak ${seconds} s] ${line}\n`);
};
const tempDir = mkdtempSync(join(tmpdir(), "keyward-soak-"));
const mb = (bytes: number) => bytes / 2 ** 20;

async function main() {
  const database = `sqlite:${join(tempDir, "keyward.db")}`;
  const secretsFile = join(tempDir, "secrets.txt");
  const missCount = Math.max(MIN_MISS_KEYS, Math.ceil(rate * MIX.miss * MISS_REUSE_SECONDS));
  const bogusCount = Math.ceil(rate * MIX.bogus * BOGUS_REUSE_SECONDS);
  const seeded = await seedDatabase({ database, keys: HOT_KEYS + missCount, secretsFile });
  const secrets = readFileSync(secretsFile, "utf8").trim().split("\n");
  const pools = {
    hot: secrets.slice(0, HOT_KEYS),
    miss: secrets.slice(HOT_KEYS),
    bogus: Array.from({ length: bogusCount }, () => generateKey("kw", "live")),
  };
  progress(`seeded ${secrets.length} keys; ${bogusCount} bogus keys`);

  const heapDir = join(tempDir, "heap");
  mkdirSync(heapDir);
  const workers = availableParallelism(); // what KEYWARD_WORKERS=auto starts
  const port = await freePort();
  const logFile = join(tempDir, "keyward.log");
  const server = await startPinned({
    name: "keyward (soak)",
    cpus: `0-${workers - 1}`,
    // `npm start`'s command (the compiled server), with the heap probe preloaded and gc() exposed to it.
    command: [process.execPath, "--expose-gc", "--import", "./bench/heap-probe.mjs", "dist/main.js"],
    env: {
      KEYWARD_LISTEN: `127.0.0.1:${port}`,
      KEYWARD_HTTP_LISTEN: "off",
      KEYWARD_DATABASE: database,
      KEYWARD_WORKERS: "auto",
      KEYWARD_CACHE_SIZE: cacheSize,
      SOAK_HEAP_DIR: heapDir,
    },
    port,
    logFile,
    ready: (log) => log.split('"msg":"keyward serving"').length - 1 >= workers,
  });
  const failures: string[] = [];
  const sampler = createRssSampler(server.pid);
  const now = () => performance.now() / 1000;
  const firstWorkers = sampler.sample(now()).sort();
  const nodePids = [server.pid, ...firstWorkers];
  const timer = setInterval(() => {
    const current = sampler.sample(now()).sort().join(",");
    if (current !== firstWorkers.join(",") && !failures.some((f) => f.startsWith("workers changed")))
      failures.push(`workers changed from [${firstWorkers.join(",")}] to [${current}]`);
  }, sampleEvery * 1000);

  const load = createMixedLoad(server.address, seeded.adminSecret, connections, pools);
  let loadStart = now();
  const heaps: {
    start?: Map<number, HeapRecord>;
    afterWarmup?: Map<number, HeapRecord>;
    end?: Map<number, HeapRecord>;
  } = {};
  try {
    heaps.start = await liveHeaps(nodePids, heapDir);
    progress(`serving with ${workers} workers (primary ${server.pid}); priming caches`);
    await load.prime();
    loadStart = now();
    progress(`mixed load at ${rate} operations/s for ${durationSeconds} s, warm-up ${warmup} s`);
    const reporter = setInterval(
      () => {
        const sent = Object.values(load.stats).reduce((sum, s) => sum + s.sent, 0);
        const rss = sampler.processes().reduce((sum, p) => sum + (p.samples.at(-1)?.bytes ?? 0), 0);
        progress(
          `${sent} operations, ${load.problems.count} unexpected, RSS of all processes ${mb(rss).toFixed(0)} MB`,
        );
      },
      (durationSeconds * 1000) / 10,
    );
    let warmupHeaps: Promise<void> | undefined;
    const warmupTimer = setTimeout(() => {
      warmupHeaps = liveHeaps(nodePids, heapDir).then((taken) => {
        heaps.afterWarmup = taken;
      });
    }, warmup * 1000);
    await load.run(rate, durationSeconds, () => load.problems.count >= 100 || failures.length > 0);
    clearInterval(reporter);
    clearTimeout(warmupTimer); // a run stopped early has no warm-up heaps
    await warmupHeaps;
    sampler.sample(now());
    heaps.end = await liveHeaps(nodePids, heapDir);
  } finally {
    clearInterval(timer);
    await server.stop();
  }

  const log = readFileSync(logFile, "utf8");
  const errorLines = log.split("\n").filter((line) => line.includes('"level":"error"'));
  if (errorLines.length > 0) failures.push(`${errorLines.length} error log lines, first: ${errorLines[0]}`);
  if (load.problems.count > 0)
    failures.push(
      `${load.problems.count} unexpected answers or failed calls: ${load.problems.first.join("; ")}`,
    );

  const since = (samples: readonly RssSample[]) => samples.map((s) => ({ ...s, at: s.at - loadStart }));
  const processes = sampler.processes().map((p) => {
    const node = nodePids.includes(p.pid);
    const heap = node
      ? heapGrowth(heaps.start?.get(p.pid), heaps.afterWarmup?.get(p.pid), heaps.end?.get(p.pid))
      : undefined;
    const rss = rssGrowth(since(p.samples), warmup);
    if (rss === undefined) failures.push(`${p.role} ${p.pid}: no RSS samples after the warm-up`);
    else if (rss.growthPercent > MAX_GROWTH_PERCENT)
      failures.push(`${p.role} ${p.pid}: RSS grew ${rss.growthPercent.toFixed(1)} % after the warm-up`);
    if (node && heap === undefined) failures.push(`${p.role} ${p.pid}: no live heap from the probe`);
    else if (heap !== undefined && heap.growthPercent > MAX_GROWTH_PERCENT)
      failures.push(
        `${p.role} ${p.pid}: live heap grew ${heap.growthPercent.toFixed(1)} % after the warm-up`,
      );
    const last = heaps.end?.get(p.pid);
    return {
      pid: p.pid,
      role: p.role,
      rss,
      heap,
      ...(last !== undefined && { heapAtEndMb: { total: mb(last.heapTotal), external: mb(last.external) } }),
    };
  });
  const total = rssGrowth(since(totalSeries(sampler.processes().map((p) => p.samples))), warmup);

  const operations = Object.fromEntries(
    (Object.keys(OPERATIONS) as Operation[]).map((op) => {
      const s = load.stats[op];
      const p = histogramPercentiles(s.latencyUs);
      return [
        op,
        {
          sent: s.sent,
          unexpected: s.unexpected,
          p50Ms: p.p50 / 1000,
          p99Ms: p.p99 / 1000,
          maxMs: p.max / 1000,
        },
      ];
    }),
  );
  return {
    command: `npm run soak -- --duration ${values.duration} --rate ${rate} --cache-size ${cacheSize}`,
    durationSeconds,
    warmupSeconds: warmup,
    rate,
    connections,
    workers,
    cacheSize: Number(cacheSize),
    seededKeys: secrets.length,
    sampleEverySeconds: sampleEvery,
    dropped: load.dropped(),
    operations,
    memory: { processes, totalRss: total },
    failures,
    passed: failures.length === 0,
    runSeconds: (performance.now() - started) / 1000,
  };
}

/** The summed RSS of every process, at the moments all of them were sampled. */
function totalSeries(series: readonly (readonly RssSample[])[]): RssSample[] {
  const byTime = new Map<number, { rss: number; count: number }>();
  for (const samples of series)
    for (const s of samples) {
      const entry = byTime.get(s.at) ?? { rss: 0, count: 0 };
      entry.rss += s.bytes;
      entry.count++;
      byTime.set(s.at, entry);
    }
  return [...byTime]
    .filter(([, entry]) => entry.count === series.length)
    .map(([time, entry]) => ({ at: time, bytes: entry.rss }));
}

function row(cells: readonly string[], widths: readonly number[]): string {
  return `| ${cells.map((c, i) => c.padEnd(widths[i] as number)).join(" | ")} |`;
}

function printTable(header: readonly string[], rows: readonly (readonly string[])[]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const lines = [
    row(header, widths),
    row(
      widths.map((w) => "-".repeat(w)),
      widths,
    ),
    ...rows.map((r) => row(r, widths)),
  ];
  process.stdout.write(`${lines.join("\n")}\n\n`);
}

const cells = (g: Growth | undefined) =>
  g === undefined
    ? ["—", "—", "—", "—"]
    : [
        g.startMb.toFixed(1),
        g.afterWarmupMb.toFixed(1),
        g.endMb.toFixed(1),
        `${g.growthPercent.toFixed(1)} %`,
      ];

try {
  const report = await main();
  printTable(
    [
      "process",
      "RSS start MB",
      "after warm-up",
      "end",
      "growth",
      "live heap start MB",
      "after warm-up",
      "end",
      "growth",
    ],
    [
      ...report.memory.processes.map((p) => [`${p.role} ${p.pid}`, ...cells(p.rss), ...cells(p.heap)]),
      ["all processes", ...cells(report.memory.totalRss), "", "", "", ""],
    ],
  );
  printTable(
    ["operation", "sent", "unexpected", "p50 ms", "p99 ms", "max ms"],
    Object.entries(report.operations).map(([op, s]) => [
      op,
      String(s.sent),
      String(s.unexpected),
      s.p50Ms.toFixed(2),
      s.p99Ms.toFixed(2),
      s.maxMs.toFixed(1),
    ]),
  );
  if (report.dropped > 0)
    process.stdout.write(
      `note: ${report.dropped} operations not sent: 256 were unanswered (the server fell behind)\n`,
    );
  for (const failure of report.failures) process.stdout.write(`FAILED: ${failure}\n`);
  process.stdout.write(`${report.passed ? "PASSED" : "FAILED"}\n\n${JSON.stringify(report)}\n`);
  progress(`done in ${report.runSeconds.toFixed(0)} s`);
  process.exitCode = report.passed ? 0 : 1;
} finally {
  if (!values["keep-temp"]) rmSync(tempDir, { recursive: true, force: true });
}
