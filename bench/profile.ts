import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { type BenchContext, type BenchRequest, checkAndCapture, h2Request } from "./context.js";
import { runH2load } from "./h2load.js";
import type { PinnedServer } from "./processes.js";
import { type KeywardServer, startKeyward } from "./servers.js";

/** A function's share of the samples in which it was on top of the stack. */
export interface SelfTime {
  readonly function: string;
  readonly location: string;
  readonly percent: number;
}

/** A profile summed up: top self-time functions, and self time per area (% of samples). */
export interface Profile {
  readonly top: readonly SelfTime[];
  readonly byArea: Readonly<Record<string, number>>;
}

interface CpuProfile {
  readonly nodes: readonly {
    readonly id: number;
    readonly callFrame: { functionName: string; url: string; lineNumber: number };
  }[];
  readonly samples: readonly number[];
}

/**
 * `--profile`: a load against a separate Keyward started with --cpu-prof (so that the
 * profiler's overhead stays out of the measured scenarios), summed up from its profile.
 */
export async function profileKeyward(
  context: BenchContext,
  name: string,
  load: (keyward: KeywardServer) => Promise<unknown>,
  options: { readonly http?: boolean } = {},
): Promise<Profile> {
  const dir = join(context.tempDir, `profile-${name}`);
  const keyward = await startKeyward({
    tempDir: context.tempDir,
    database: context.database,
    name: `profile-${name}`,
    nodeOptions: ["--cpu-prof", `--cpu-prof-dir=${dir}`],
    ...options,
  });
  try {
    await load(keyward);
  } finally {
    await keyward.stop(); // the profile is written on exit
  }
  // CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile: thread 0 is the main thread (tsx's loader
  // hooks run in a thread of their own, with a profile of their own).
  const file = readdirSync(dir).find((entry) => /\.\d+\.0\.\d+\.cpuprofile$/.test(entry));
  if (file === undefined) throw new Error(`no .cpuprofile in ${dir}`);
  const profile = JSON.parse(readFileSync(join(dir, file), "utf8")) as CpuProfile;
  return { top: topSelfTime(profile, 15), byArea: selfTimeByArea(profile) };
}

/** h2load with scenario 1's shape, after one checked call: a load for profileKeyward. */
export function h2Load(context: BenchContext, request: BenchRequest, requests: number) {
  return async (keyward: PinnedServer) => {
    await checkAndCapture(keyward, request);
    const logFile = join(context.tempDir, "h2load-profile.tsv");
    await runH2load(h2Request(keyward, request), {
      clients: 8,
      streams: 16,
      logFile,
      timeoutSeconds: 180,
      requests,
    });
  };
}

/** Where a sample's top frame lives: Keyward's code, a dependency, Node's internals, GC, idle. */
function area(frame: { functionName: string; url: string }): string {
  const url = frame.url;
  if (url === "") return frame.functionName.startsWith("(") ? frame.functionName : "(native)";
  if (url.includes("/node_modules/")) {
    const match = /\/node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
    return match?.[1] ?? "node_modules";
  }
  if (url.startsWith("node:")) {
    const internal = /^node:internal\/(http2|crypto|streams|modules)/.exec(url)?.[1];
    return internal === undefined ? "node (other)" : `node:${internal}`;
  }
  // The server runs compiled (dist/, what `npm start` runs); src/ when run through tsx.
  if (/\/(src|dist)\/gen\//.test(url)) return "keyward src/gen";
  if (/\/(src|dist)\//.test(url)) return "keyward src";
  return "other";
}

/** Self time per area, in % of all samples. */
export function selfTimeByArea(profile: CpuProfile): Record<string, number> {
  const frames = new Map(profile.nodes.map((node) => [node.id, node.callFrame]));
  const counts = new Map<string, number>();
  for (const id of profile.samples) {
    const frame = frames.get(id);
    if (frame === undefined) continue;
    const where = area(frame);
    counts.set(where, (counts.get(where) ?? 0) + 1);
  }
  const sorted = [...counts.entries()].sort((a, b) => b[1] - a[1]);
  return Object.fromEntries(
    sorted.map(([name, n]) => [name, Math.round((n / profile.samples.length) * 1000) / 10]),
  );
}

/** Self time per function (name and source location), largest first; idle and GC shown as such. */
export function topSelfTime(profile: CpuProfile, count: number): SelfTime[] {
  const frames = new Map(profile.nodes.map((node) => [node.id, node.callFrame]));
  const hits = new Map<string, { fn: string; location: string; n: number }>();
  for (const id of profile.samples) {
    const frame = frames.get(id);
    if (frame === undefined) continue;
    const location = frame.url === "" ? "" : `${shorten(frame.url)}:${frame.lineNumber + 1}`;
    const key = `${frame.functionName}@${location}`;
    const entry = hits.get(key) ?? { fn: frame.functionName || "(anonymous)", location, n: 0 };
    entry.n++;
    hits.set(key, entry);
  }
  const total = profile.samples.length;
  return [...hits.values()]
    .sort((a, b) => b.n - a.n)
    .slice(0, count)
    .map((entry) => ({ function: entry.fn, location: entry.location, percent: (entry.n / total) * 100 }));
}

function shorten(url: string): string {
  const path = url.replace(/^file:\/\//, "");
  return path.startsWith("/") ? relative(process.cwd(), path) : path;
}
