import { join } from "node:path";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { generateKey } from "../src/domain/key-format.js";
import {
  AuthorizeRequestSchema,
  AuthorizeResponseSchema,
} from "../src/gen/keyward/v1/authorize_service_pb.js";
import { Reason } from "../src/gen/keyward/v1/key_pb.js";
import {
  type BenchContext,
  type BenchRequest,
  benchRequest,
  checkAndCapture,
  checkEcho,
  h2Request,
  ratioTarget,
  type ScenarioResult,
} from "./context.js";
import { H2LOAD_SHAPE } from "./h2load.js";
import {
  alternate,
  describe,
  measureH2,
  measureLoadgen,
  type RunResult,
  type Side,
  type Summary,
  summarize,
} from "./measure.js";
import { type PinnedServer, readSyscalls } from "./processes.js";
import { REQUIRED_SCOPE } from "./seed.js";
import { startEcho, startKeyward } from "./servers.js";

const AUTHORIZE = "/keyward.v1.AuthorizeService/Authorize";

type Servers = Record<Side, PinnedServer>;

/**
 * Keyward plus an echo server giving Keyward's answer for `apiKey` (which must be `expect`); also
 * returns that request and answer, for h2load's run on the echo server.
 */
async function startPair(context: BenchContext, name: string, apiKey: string, expect: Reason) {
  const message = toBinary(
    AuthorizeRequestSchema,
    create(AuthorizeRequestSchema, { apiKey, requiredScopes: [REQUIRED_SCOPE] }),
  );
  const request = benchRequest(context, name, AUTHORIZE, message);
  const keyward = await startKeyward({ tempDir: context.tempDir, database: context.database, name });
  try {
    const answer = await checkAndCapture(keyward, request);
    const reason = fromBinary(AuthorizeResponseSchema, answer).reason;
    if (reason !== expect)
      throw new Error(`${name}: Keyward answered ${Reason[reason]}, not ${Reason[expect]}`);
    const echo = await startEcho({ tempDir: context.tempDir, name, answers: { [AUTHORIZE]: answer } });
    await checkEcho(echo, request, answer);
    return { servers: { keyward, echo } satisfies Servers, request, answer };
  } catch (error) {
    await keyward.stop();
    throw error;
  }
}

/** Warm-up of both sides, then alternating rounds; each run also reports read syscalls per call. */
async function loadgenRounds(
  context: BenchContext,
  id: string,
  servers: Servers,
  args: (side: Side, count: number, seconds: number) => string[],
): Promise<Record<Side, RunResult[]>> {
  const { config } = context;
  const run = async (side: Side, count: number, seconds: number, label: string) => {
    const server = servers[side];
    const syscalls = readSyscalls(server.pid);
    const result = await measureLoadgen(server, args(side, count, seconds));
    const reads = (readSyscalls(server.pid) - syscalls) / Math.max(1, result.requests);
    context.progress(
      `${describe(id, side, label, result)}  generator ${Math.round(result.generatorCpuPercent ?? 0)} % CPU, ` +
        `busy ${Math.round(result.generatorBusyPercent ?? 0)} %`,
    );
    return { ...result, readSyscallsPerCall: reads };
  };
  await run("keyward", config.loadgenWarmCount, config.loadgenWarmSeconds, "warm-up");
  await run("echo", config.loadgenWarmCount, config.loadgenWarmSeconds, "warm-up");
  return alternate(config.rounds, (side, round) =>
    run(side, config.loadgenCount, config.loadgenSeconds, `round ${round + 1}`),
  );
}

/**
 * The echo server driven by h2load for as long as a loadgen run, with one key (the echo server
 * answers every key alike): what the echo server reaches when its generator is surely not the
 * limit, to set beside what bench/loadgen.ts drove it to (the JSON's details.echoWithH2load).
 */
async function echoWithH2load(
  context: BenchContext,
  id: string,
  echo: PinnedServer,
  request: BenchRequest,
  answer: Buffer,
  loadgenCallsPerSecond: number,
): Promise<RunResult> {
  const { config } = context;
  const requests = Math.round(
    Math.min(config.maxRequests, Math.max(config.minRequests, loadgenCallsPerSecond * config.loadgenSeconds)),
  );
  const result = await measureH2(
    echo,
    h2Request(echo, request),
    { requests, ...H2LOAD_SHAPE, logFile: join(context.tempDir, `h2load-${id}.tsv`), timeoutSeconds: 180 },
    { min: 5 + answer.length, max: 5 + answer.length },
  );
  context.progress(describe(id, "echo", "h2load", result));
  return result;
}

/** What the details of scenarios 3 and 4 say of h2load on the same echo server. */
function h2loadDetails(loadgen: Summary, h2load: RunResult) {
  return {
    callsPerSecond: h2load.callsPerSecond,
    cpuUsPerCall: h2load.cpuUsPerCall,
    valid: h2load.problems.length === 0,
    loadgenShare: loadgen.callsPerSecond / h2load.callsPerSecond,
  };
}

/** Medians of read syscalls per call, the proxy for store reads. */
function readsPerCall(runs: Record<Side, RunResult[]>): Record<Side, number> {
  const of = (list: RunResult[]) => {
    const values = list.map((r) => r.readSyscallsPerCall ?? 0).sort((a, b) => a - b);
    return values[values.length >> 1] ?? 0;
  };
  return { keyward: of(runs.keyward), echo: of(runs.echo) };
}

const STORE_READS =
  "one per call by construction: every key is distinct and never repeated in the Keyward process, " +
  "so neither the key cache nor the negative cache can answer (not counted: Keyward logs no store read)";

/** Which row a not-cached run is: scenario 3 on the SQLite store, or 11 on PostgreSQL. */
export interface NotCachedRow {
  readonly id: string;
  /** Said in the row's name when it is not the default store (SQLite). */
  readonly store?: string;
}

/**
 * Scenario 3: Authorize with keys that are not cached, each request a different key of the
 * seeded store, so every call is a store lookup. Scenario 11 is the same on PostgreSQL (the
 * context's database and secrets are then a seeded schema's).
 */
export async function notCachedScenario(
  context: BenchContext,
  seededKeys: number,
  row: NotCachedRow = { id: "3" },
): Promise<ScenarioResult> {
  const { id } = row;
  const { servers, request, answer } = await startPair(
    context,
    id === "3" ? "not-cached" : `not-cached-${id}`,
    context.secrets.last,
    Reason.ALLOWED,
  );
  // Keyward runs take fresh slices of lines 1 … seededKeys−2 (line 0 is scenario 1's cached key,
  // the last line the capture above); echo runs may reuse any.
  let next = 1;
  const take = (count: number) => {
    const from = next;
    next += count;
    if (next > seededKeys - 1) throw new Error(`scenario ${id} needs more than ${seededKeys} seeded keys`);
    return from;
  };
  try {
    const runs = await loadgenRounds(context, id, servers, (side, count, seconds) => [
      "--keys",
      context.secretsFile,
      "--from",
      String(side === "keyward" ? take(count) : 1),
      "--count",
      String(count),
      "--seconds",
      String(seconds),
      "--expect",
      "ALLOWED",
    ]);
    const keyward = summarize(runs.keyward);
    const echo = summarize(runs.echo);
    const h2load = await echoWithH2load(context, id, servers.echo, request, answer, echo.callsPerSecond);
    const store = row.store === undefined ? "" : `, ${row.store}`;
    return {
      id,
      name: `Authorize, key not cached${store} (${seededKeys.toLocaleString("en-US")} keys stored)`,
      tool: "bench/loadgen.ts",
      keyward,
      echo,
      ...ratioTarget(runs, keyward, echo, 0.6),
      runs,
      details: {
        storeReads: STORE_READS,
        readSyscallsPerCall: readsPerCall(runs),
        echoWithH2load: h2loadDetails(echo, h2load),
      },
    };
  } finally {
    await Promise.all([servers.keyward.stop(), servers.echo.stop()]);
  }
}

/** Scenario 4: a flood of well-formed (valid checksum) but unknown keys, all distinct. */
export async function bogusScenario(context: BenchContext): Promise<ScenarioResult> {
  const { servers, request, answer } = await startPair(
    context,
    "bogus",
    generateKey("kw", "live"),
    Reason.KEY_NOT_FOUND,
  );
  try {
    const runs = await loadgenRounds(context, "4", servers, (_side, count, seconds) => [
      "--bogus",
      "--count",
      String(count),
      "--seconds",
      String(seconds),
      "--expect",
      "KEY_NOT_FOUND",
    ]);
    const keyward = summarize(runs.keyward);
    const echo = summarize(runs.echo);
    const h2load = await echoWithH2load(context, "4", servers.echo, request, answer, echo.callsPerSecond);
    return {
      id: "4",
      name: "Authorize, flood of distinct bogus keys (negative cache 10,000)",
      tool: "bench/loadgen.ts",
      keyward,
      echo,
      ...ratioTarget(runs, keyward, echo, 0.8),
      runs,
      details: {
        storeReads: STORE_READS,
        readSyscallsPerCall: readsPerCall(runs),
        echoWithH2load: h2loadDetails(echo, h2load),
      },
    };
  } finally {
    await Promise.all([servers.keyward.stop(), servers.echo.stop()]);
  }
}
