import http from "node:http";
import { join } from "node:path";
import {
  type BenchContext,
  checkAndCapture,
  h2Request,
  ratioTarget,
  type ScenarioResult,
} from "./context.js";
import { type H2Request, runH2load } from "./h2load.js";
import { checkCachedRequest, exact, requireCheckAllowed, sizedRounds } from "./h2load-scenarios.js";
import {
  alternate,
  describe,
  measureH2,
  type RunResult,
  type Side,
  type Summary,
  summarize,
} from "./measure.js";
import type { PinnedServer } from "./processes.js";
import { REQUIRED_SCOPE } from "./seed.js";
import { type KeywardServer, startHttpEcho, startKeyward } from "./servers.js";

/** The auth URL a gateway would call for a route requiring the seeded scope. */
const PATH = `/authz/forward-auth?scopes=${REQUIRED_SCOPE}`;
/** Keep-alive connections of the throughput runs (HTTP/1.1: one request in flight on each). */
const CLIENTS = 8;
/** Requests of each one-connection run, per second of the config's runSeconds. */
const ONE_CONNECTION_RATE = 5_000;
/** Headers node:http writes on every answer by itself; the HTTP echo server gets the rest. */
const NODE_OWN_HEADERS = new Set(["date", "connection", "keep-alive"]);

/** One answer to an HTTP/1.1 GET: its status, header pairs in order, size on the wire and body. */
interface HttpAnswer {
  readonly status: number;
  readonly headers: readonly (readonly [string, string])[];
  /** Status line, header block and body, as h2load counts them. */
  readonly bytes: number;
  readonly body: string;
}

/**
 * Scenario 9: forward auth (`/authz/forward-auth`, HTTP/1.1 keep-alive) with a cached key, allowed,
 * against a bare node:http server answering 200 with the same headers, in alternating rounds; then
 * one connection of each, and Envoy Check over gRPC on the same Keyward process with the same key and
 * scope at one connection × one stream, for their p50 side by side.
 */
export async function forwardAuthScenario(context: BenchContext): Promise<ScenarioResult> {
  const headers = forwardedHeaders(context);
  const keyward = await startKeyward({
    tempDir: context.tempDir,
    database: context.database,
    name: "forward-auth",
    http: true,
  });
  let echo: PinnedServer | undefined;
  try {
    const httpAddress = keyward.httpAddress as string;
    const answer = await getOnce(httpAddress, headers);
    // h2load counts any complete answer as succeeded: a denial must stop the scenario here.
    if (answer.status !== 200 || answer.body !== "")
      throw new Error(`scenario 9: Keyward answered ${answer.status}, not an empty 200: ${answer.body}`);
    const replayed = answer.headers.filter(([name]) => !NODE_OWN_HEADERS.has(name.toLowerCase()));
    echo = await startHttpEcho({ tempDir: context.tempDir, name: "forward-auth", headers: replayed });
    const echoAnswer = await getOnce(echo.address, headers);
    const differs = headDifference(answer, echoAnswer);
    if (differs !== undefined)
      throw new Error(`scenario 9: the HTTP echo server's answer differs: ${differs}`);
    const checkRequest = checkCachedRequest(context);
    const checkAnswer = await checkAndCapture(keyward, checkRequest);
    requireCheckAllowed("9", checkAnswer);

    const servers: Record<Side, PinnedServer> = { keyward, echo };
    const targets: Record<Side, H2Request> = {
      keyward: forwardAuthRequest(httpAddress, headers),
      echo: forwardAuthRequest(echo.address, headers),
    };
    const logFile = join(context.tempDir, "h2load-9.tsv");
    const measure = async (side: Side, requests: number, clients: number, label: string) => {
      const options = { requests, clients, streams: 1, h1: true, logFile, timeoutSeconds: 120 };
      const result = await measureH2(servers[side], targets[side], options, NO_BODY, answer.bytes);
      context.progress(describe("9", side, label, result));
      return result;
    };
    const runs = await sizedRounds(context.config, context.config.warmRequests, (side, requests, label) =>
      measure(side, requests, CLIENTS, label),
    );

    // One connection: the latency of a lone caller. Check's path gets a warm-up of its own first.
    const single = Math.round(ONE_CONNECTION_RATE * context.config.runSeconds);
    const check = (requests: number, label: string) =>
      measureH2(
        keyward,
        h2Request(keyward, checkRequest),
        { requests, clients: 1, streams: 1, logFile, timeoutSeconds: 120 },
        exact(checkAnswer),
      ).then((result) => {
        context.progress(describe("9", "check", label, result));
        return result;
      });
    await check(Math.round(single / 4), "warm-up");
    const checkRuns: RunResult[] = [];
    const oneConnection = await alternate(context.config.rounds, async (side, round) => {
      const result = await measure(side, single, 1, `1 conn ${round + 1}`);
      if (side === "keyward") checkRuns.push(await check(single, `1×1 ${round + 1}`));
      return result;
    });

    const keywardSummary = summarize(runs.keyward);
    const echoSummary = summarize(runs.echo);
    return {
      id: "9",
      name: "forward auth (HTTP/1.1), cached key, allowed",
      tool: `h2load --h1 -c ${CLIENTS}; echo: bare node:http, same headers`,
      keyward: keywardSummary,
      echo: echoSummary,
      ...ratioTarget(runs, keywardSummary, echoSummary, 0.85),
      runs,
      details: {
        answerBytes: answer.bytes,
        headers: answer.headers.map(([name]) => name),
        oneConnection: {
          forwardAuth: summarize(oneConnection.keyward),
          echo: summarize(oneConnection.echo),
          grpcCheck: summarize(checkRuns),
        },
        oneConnectionRuns: { ...oneConnection, grpcCheck: checkRuns },
      },
    };
  } finally {
    await Promise.all([keyward.stop(), echo?.stop()]);
  }
}

/** Scenario 9's line under the table: the p50s at one connection, side by side. */
export function forwardAuthNotes(scenarios: readonly ScenarioResult[]): string[] {
  const one = scenarios.find((s) => s.id === "9")?.details?.oneConnection as
    | Record<"forwardAuth" | "echo" | "grpcCheck", Summary>
    | undefined;
  if (one === undefined) return [];
  const p50 = (summary: Summary) =>
    `${(summary.p50Us / 1000).toFixed(3)} ms${summary.valid ? "" : " (INVALID)"}`;
  return [
    `scenario 9, one connection (p50 of every request's time in h2load's log file, medians of rounds): ` +
      `forward auth ${p50(one.forwardAuth)}, bare node:http ${p50(one.echo)} (h2load --h1 -c 1); ` +
      `gRPC Check on the same Keyward, key and scope ${p50(one.grpcCheck)} (h2load -c 1 -m 1).`,
  ];
}

/** `--profile`: scenario 9's load (h2load --h1, 8 connections) after one checked call. */
export function forwardAuthLoad(context: BenchContext, requests: number) {
  return async (keyward: KeywardServer) => {
    const headers = forwardedHeaders(context);
    const address = keyward.httpAddress as string;
    const answer = await getOnce(address, headers);
    if (answer.status !== 200) throw new Error(`forward auth profile: Keyward answered ${answer.status}`);
    const logFile = join(context.tempDir, "h2load-profile.tsv");
    const options = { requests, clients: CLIENTS, streams: 1, h1: true, logFile, timeoutSeconds: 180 };
    await runH2load(forwardAuthRequest(address, headers), options);
  };
}

/** What a gateway sends with the auth request: the caller's key and the original request. */
function forwardedHeaders(context: BenchContext): Record<string, string> {
  return {
    "x-api-key": context.secrets.first,
    "x-forwarded-method": "GET",
    "x-forwarded-uri": "/v1/orders",
  };
}

/** Forward auth's answer has no body: h2load's DATA must be 0. */
const NO_BODY = { min: 0, max: 0 };

function forwardAuthRequest(address: string, headers: Readonly<Record<string, string>>): H2Request {
  return {
    url: `http://${address}${PATH}`,
    headers: Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
  };
}

/**
 * One GET over a keep-alive connection of its own (as h2load's: a `connection: close` request
 * would get a different head), read to the end.
 */
function getOnce(address: string, headers: Readonly<Record<string, string>>): Promise<HttpAnswer> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  return new Promise<HttpAnswer>((resolve, reject) => {
    const request = http.get(`http://${address}${PATH}`, { headers, agent }, (response) => {
      let body = "";
      response.setEncoding("utf8").on("data", (chunk: string) => {
        body += chunk;
      });
      response.on("end", () => {
        const raw = response.rawHeaders;
        const pairs: [string, string][] = [];
        for (let i = 0; i < raw.length; i += 2) pairs.push([raw[i] as string, raw[i + 1] as string]);
        const statusLine = `HTTP/${response.httpVersion} ${response.statusCode} ${response.statusMessage}\r\n`;
        const head = pairs.reduce((sum, [name, value]) => sum + name.length + value.length + 4, 2);
        const bytes = Buffer.byteLength(statusLine) + head + Buffer.byteLength(body);
        resolve({ status: response.statusCode ?? 0, headers: pairs, bytes, body });
      });
      response.on("error", reject);
    });
    request.on("error", reject);
    request.setTimeout(10_000, () => request.destroy(new Error(`GET ${address}${PATH}: no answer in 10 s`)));
  }).finally(() => agent.destroy());
}

/**
 * Why two answers are not the same to a load generator: status, header names in order and each
 * value's length (the date differs in content, never in size), body and byte count.
 */
function headDifference(a: HttpAnswer, b: HttpAnswer): string | undefined {
  const shape = (answer: HttpAnswer) =>
    `${answer.status} ${answer.headers.map(([name, value]) => `${name.toLowerCase()}:${value.length}`).join(" ")} body ${answer.body.length}, ${answer.bytes} bytes`;
  return shape(a) === shape(b) ? undefined : `${shape(b)} instead of ${shape(a)}`;
}
