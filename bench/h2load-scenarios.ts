import { join } from "node:path";
import { clone, create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { sql } from "kysely";
import {
  CheckRequestSchema,
  CheckResponseSchema,
} from "../src/gen/envoy/service/auth/v3/external_auth_pb.js";
import {
  AuthorizeRequestSchema,
  AuthorizeResponseSchema,
} from "../src/gen/keyward/v1/authorize_service_pb.js";
import { Reason } from "../src/gen/keyward/v1/key_pb.js";
import { IssueKeyRequestSchema, IssueKeyResponseSchema } from "../src/gen/keyward/v1/key_service_pb.js";
import { openDatabase } from "../src/store/database.js";
import { CHECK, envoyCheckRequest } from "../test/support/envoy-check-request.js";
import {
  type BenchConfig,
  type BenchContext,
  type BenchRequest,
  benchRequest,
  checkAndCapture,
  checkEcho,
  h2Request,
  ratioTarget,
  type ScenarioResult,
  signed,
} from "./context.js";
import { H2LOAD_SHAPE } from "./h2load.js";
import { latencyScenario } from "./latency-scenario.js";
import {
  alternate,
  describe,
  type FrameSize,
  measureH2,
  type RunResult,
  type Side,
  summarize,
} from "./measure.js";
import type { PinnedServer } from "./processes.js";
import { REQUIRED_SCOPE } from "./seed.js";
import { startEcho, startKeyward } from "./servers.js";

const AUTHORIZE = "/keyward.v1.AuthorizeService/Authorize";
const ISSUE_KEY = "/keyward.v1.KeyService/IssueKey";

const { clients: CLIENTS, streams: STREAMS } = H2LOAD_SHAPE;

type Servers = Record<Side, PinnedServer>;

/**
 * Starts Keyward (with `keywardEnv` added to its environment), captures its answer to the request,
 * and starts an echo server giving that answer.
 */
export async function startPair(
  context: BenchContext,
  name: string,
  request: BenchRequest,
  keywardEnv: Readonly<Record<string, string>> = {},
): Promise<{ servers: Servers; answer: Buffer }> {
  const keyward = await startKeyward({
    tempDir: context.tempDir,
    database: context.database,
    name,
    env: keywardEnv,
  });
  try {
    const answer = await checkAndCapture(keyward, request);
    const echo = await startEcho({ tempDir: context.tempDir, name, answers: { [request.path]: answer } });
    await checkEcho(echo, request, answer);
    return { servers: { keyward, echo }, answer };
  } catch (error) {
    await keyward.stop();
    throw error;
  }
}

export async function stopPair(servers: Servers): Promise<void> {
  await Promise.all([servers.keyward.stop(), servers.echo.stop()]);
}

/** Warm-up of both sides, then n sized per side to run about runSeconds, then alternating rounds. */
export async function h2Rounds(
  context: BenchContext,
  id: string,
  servers: Servers,
  request: BenchRequest,
  frames: Record<Side, FrameSize>,
  warmRequests: number,
  check: (side: Side, result: RunResult) => Promise<RunResult> = async (_side, result) => result,
): Promise<Record<Side, RunResult[]>> {
  const run = async (side: Side, requests: number, label: string) => {
    const server = servers[side];
    const result = await check(
      side,
      await measureH2(
        server,
        h2Request(server, request),
        {
          requests,
          clients: CLIENTS,
          streams: STREAMS,
          logFile: join(context.tempDir, `h2load-${id}.tsv`),
          timeoutSeconds: 180,
        },
        frames[side],
      ),
    );
    context.progress(describe(id, side, label, result));
    return result;
  };
  return sizedRounds(context.config, warmRequests, run);
}

/**
 * A warm-up run of each side, then n sized per side (from its warm-up) to run about runSeconds,
 * then alternating rounds of n requests each.
 */
export async function sizedRounds(
  config: BenchConfig,
  warmRequests: number,
  run: (side: Side, requests: number, label: string) => Promise<RunResult>,
): Promise<Record<Side, RunResult[]>> {
  const sized = (warm: RunResult) =>
    Math.round(
      Math.min(config.maxRequests, Math.max(config.minRequests, warm.callsPerSecond * config.runSeconds)),
    );
  const n = {
    keyward: sized(await run("keyward", warmRequests, "warm-up")),
    echo: sized(await run("echo", warmRequests, "warm-up")),
  };
  return alternate(config.rounds, (side, round) => run(side, n[side], `round ${round + 1}`));
}

export const exact = (bytes: Buffer): FrameSize => ({ min: 5 + bytes.length, max: 5 + bytes.length });

/**
 * Scenario 1 (Authorize with a cached key, allowed) and scenario 6 (latency at a fixed open-loop
 * rate of half of scenario 1's maximum, and the sweep at lower rates), on the same pair of servers.
 */
export async function authorizeScenarios(context: BenchContext): Promise<ScenarioResult[]> {
  const request = authorizeCachedRequest(context);
  const { servers, answer } = await startPair(context, "authorize", request);
  try {
    const reason = fromBinary(AuthorizeResponseSchema, answer).reason;
    if (reason !== Reason.ALLOWED)
      throw new Error(`scenario 1: Keyward answered ${Reason[reason]}, not ALLOWED`);
    const frames = { keyward: exact(answer), echo: exact(answer) };
    const runs = await h2Rounds(context, "1", servers, request, frames, context.config.warmRequests);
    const keyward = summarize(runs.keyward);
    const echo = summarize(runs.echo);
    const s1: ScenarioResult = {
      id: "1",
      name: "Authorize, cached key, allowed",
      tool: `h2load -c ${CLIENTS} -m ${STREAMS}`,
      keyward,
      echo,
      ...ratioTarget(runs, keyward, echo, 0.9),
      runs,
      details: { responseFrameBytes: 5 + answer.length, requestFrameBytes: request.frame.length },
    };
    const latency = await latencyScenario(context, servers, request, answer, frames, keyward.callsPerSecond);
    return [s1, ...latency];
  } finally {
    await stopPair(servers);
  }
}

/** Scenario 1's request: Authorize with the first seeded key (cached after the first call). */
export function authorizeCachedRequest(context: BenchContext): BenchRequest {
  const message = create(AuthorizeRequestSchema, {
    apiKey: context.secrets.first,
    requiredScopes: [REQUIRED_SCOPE],
  });
  return benchRequest(context, "authorize-cached", AUTHORIZE, toBinary(AuthorizeRequestSchema, message));
}

/** Scenario 5's request: IssueKey with the admin key; every call creates a key. */
export function issueKeyRequest(context: BenchContext): BenchRequest {
  const message = create(IssueKeyRequestSchema, { name: "bench issued", scopes: [REQUIRED_SCOPE] });
  return benchRequest(context, "issue-key", ISSUE_KEY, toBinary(IssueKeyRequestSchema, message), {
    authorization: `Bearer ${context.adminSecret}`,
  });
}

/**
 * Scenario 2's request (also scenario 9's gRPC side): Envoy's Check with a realistic request, the
 * key in x-api-key and the route's scope in its context extensions, as deploy/envoy/envoy.yaml sets
 * them per route.
 */
export function checkCachedRequest(context: BenchContext): BenchRequest {
  const check = envoyCheckRequest({
    headers: { "x-api-key": context.secrets.first },
    contextExtensions: { "keyward.scopes": REQUIRED_SCOPE },
  });
  const message = toBinary(CheckRequestSchema, create(CheckRequestSchema, check));
  return benchRequest(context, "check-cached", CHECK, message);
}

/** Throws unless a captured Check answer allows (status 0 and an ok_response). */
export function requireCheckAllowed(scenario: string, answer: Buffer): void {
  const response = fromBinary(CheckResponseSchema, answer);
  if (response.status?.code !== 0 || response.httpResponse.case !== "okResponse")
    throw new Error(`scenario ${scenario}: Keyward did not allow: ${response.status?.message}`);
}

/** Scenario 2: Envoy's Check with a realistic request and a cached key, allowed. */
export async function checkScenario(context: BenchContext): Promise<ScenarioResult> {
  const request = checkCachedRequest(context);
  const { servers, answer } = await startPair(context, "check", request);
  try {
    requireCheckAllowed("2", answer);
    const frames = { keyward: exact(answer), echo: exact(answer) };
    const runs = await h2Rounds(context, "2", servers, request, frames, context.config.warmRequests);
    const keyward = summarize(runs.keyward);
    const echo = summarize(runs.echo);
    return {
      id: "2",
      name: "Envoy Check, cached key, allowed",
      tool: `h2load -c ${CLIENTS} -m ${STREAMS}`,
      keyward,
      echo,
      ...ratioTarget(runs, keyward, echo, 0.85),
      runs,
      details: { requestFrameBytes: request.frame.length, responseFrameBytes: 5 + answer.length },
    };
  } finally {
    await stopPair(servers);
  }
}

/**
 * Scenario 5: IssueKey throughput, every call creating a key. IssueKey answers differ in size
 * (timestamps' nanos), so Keyward's DATA is checked against a range, and every run must have
 * added exactly n keys to the store.
 */
export async function issueKeyScenario(context: BenchContext): Promise<ScenarioResult> {
  const request = issueKeyRequest(context);
  const { servers, answer } = await startPair(context, "issue-key", request);
  const { db, close } = await openDatabase(context.database);
  const countKeys = async () =>
    Number((await sql<{ n: number }>`select count(*) as n from api_keys`.execute(db)).rows[0]?.n);
  try {
    const issued = fromBinary(IssueKeyResponseSchema, answer);
    if (issued.secret === "" || issued.key === undefined) throw new Error("scenario 5: no key issued");
    const frames = { keyward: issueKeyFrameRange(answer), echo: exact(answer) };
    let before = await countKeys();
    const runs = await h2Rounds(
      context,
      "5",
      servers,
      request,
      frames,
      context.config.issueWarmRequests,
      async (side, result) => {
        if (side === "echo") return result;
        const after = await countKeys();
        const added = after - before;
        before = after;
        return added === result.requests
          ? result
          : {
              ...result,
              problems: [...result.problems, `${added} keys stored for ${result.requests} calls`],
            };
      },
    );
    const keyward = summarize(runs.keyward);
    const echo = summarize(runs.echo);
    return {
      id: "5",
      name: "IssueKey (every call stores a key)",
      tool: `h2load -c ${CLIENTS} -m ${STREAMS}`,
      keyward,
      echo,
      ratio: keyward.callsPerSecond / echo.callsPerSecond,
      target: "≥ 2,000 keys/s",
      met: keyward.valid ? keyward.callsPerSecond >= 2000 : undefined,
      margin: `${signed(keyward.callsPerSecond - 2000, 0)} keys/s`,
      runs,
      details: { responseFrameBytes: frames.keyward },
    };
  } finally {
    await close();
    await stopPair(servers);
  }
}

/** Smallest and largest IssueKeyResponse frame: create_time and update_time nanos take 0–5 bytes. */
function issueKeyFrameRange(answer: Buffer): FrameSize {
  const sized = (nanos: number) => {
    const response = clone(IssueKeyResponseSchema, fromBinary(IssueKeyResponseSchema, answer));
    for (const time of [response.key?.createTime, response.key?.updateTime]) if (time) time.nanos = nanos;
    return 5 + toBinary(IssueKeyResponseSchema, response).length;
  };
  return { min: sized(0), max: sized(999_000_000) };
}
