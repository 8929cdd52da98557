import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { generateKey } from "../src/domain/key-format.js";
import {
  AuthorizeRequestSchema,
  AuthorizeResponseSchema,
} from "../src/gen/keyward/v1/authorize_service_pb.js";
import { Reason } from "../src/gen/keyward/v1/key_pb.js";
import { GRPC_HEADERS, grpcFrame, unframe } from "./grpc-frame.js";
import { connectUnary, type UnaryAnswer, type UnaryConnection } from "./h2-unary-client.js";
import { type HistogramPercentiles, histogramPercentiles, newHistogram, recordUs } from "./histogram.js";

// A closed-loop load generator for the scenarios h2load cannot do: a different key in every
// request (h2load sends one body file for all). A few HTTP/2 connections of bench/h2-unary-client.ts,
// `streams` calls in flight on each, every request frame built before the clock starts, bounded by a
// request count and a time limit; every answer is checked (HTTP 200, grpc-status 0, one frame, the
// expected Reason) and its latency recorded. One thread: the bench gives the generator one CPU.
//
//   node --import tsx bench/loadgen.ts --target 127.0.0.1:PORT --expect ALLOWED \
//     --keys secrets.txt --from 1 --count 100000 [--seconds 8 --connections 4 --streams 32 --warmup 500]
//   node --import tsx bench/loadgen.ts --target 127.0.0.1:PORT --expect KEY_NOT_FOUND --bogus --count 100000
//
// --count bounds the requests (the first --warmup are sent untimed, to warm up the generator
// itself), --seconds the timed part. Prints one JSON line (LoadgenResult). Run it pinned
// (taskset -c 1): bench/measure.ts does, and judges from generatorBusyPercent whether the run
// measured the server or the generator.

const PATH = "/keyward.v1.AuthorizeService/Authorize";

/** What to send, and what every answer must say. */
export interface LoadOptions {
  readonly target: string;
  /** One request per key, in this order; the first `warmup` are the untimed warm-up. */
  readonly keys: readonly string[];
  readonly scope: string;
  readonly expect: Reason;
  /** HTTP/2 connections: one connection alone is limited by round trips, not CPU. */
  readonly connections: number;
  /** Calls in flight per connection. */
  readonly streams: number;
  /** The timed part ends after this long even if keys are left. */
  readonly seconds: number;
  readonly warmup: number;
}

/** What a run measured, printed as JSON. Latencies in µs. */
export interface LoadgenResult {
  readonly calls: number;
  readonly ok: number;
  readonly badStatus: number;
  readonly badReason: number;
  readonly errors: number;
  /** Calls of the untimed warm-up not answered as expected. */
  readonly warmupFailed: number;
  readonly firstProblem: string | undefined;
  readonly seconds: number;
  readonly callsPerSecond: number;
  readonly latencyUs: HistogramPercentiles;
  /** CPU the generator's process used during the timed part, in % of one core. */
  readonly generatorCpuPercent: number;
  /**
   * The share of the timed part its thread was running or waiting for its CPU (Linux
   * /proc/thread-self/schedstat; generatorCpuPercent where that is missing), %. A closed loop whose
   * server is the limit idles while it waits for answers; near 100 %, the generator was the limit.
   */
  readonly generatorBusyPercent: number;
}

interface Tally {
  ok: number;
  badStatus: number;
  badReason: number;
  errors: number;
  firstProblem: string | undefined;
  /** performance.now() of the last answer. */
  lastAnswerAt: number;
}

/** Sends one request per key and checks every answer; see the file's comment. */
export async function runLoad(options: LoadOptions): Promise<LoadgenResult> {
  const frames = options.keys.map((apiKey) =>
    grpcFrame(
      toBinary(
        AuthorizeRequestSchema,
        create(AuthorizeRequestSchema, { apiKey, requiredScopes: [options.scope] }),
      ),
    ),
  );
  const request = { path: PATH, headers: GRPC_HEADERS, body: frames[0] ?? Buffer.alloc(0) };
  const connections = await Promise.all(
    Array.from({ length: options.connections }, () =>
      connectUnary(options.target, request, { batchWrites: true }),
    ),
  );
  try {
    // The generator's own warm-up (JIT, connections), untimed: each process is fresh.
    const warm = await pump(connections, frames.slice(0, options.warmup), options, Infinity, undefined);
    const histogram = newHistogram();
    const cpuBefore = process.cpuUsage();
    const threadBefore = threadTimes();
    const startedAt = performance.now();
    const tally = await pump(
      connections,
      frames.slice(options.warmup),
      options,
      startedAt + options.seconds * 1000,
      histogram,
    );
    const endedAt = Math.max(tally.lastAnswerAt, startedAt + 1);
    const wallNs = (endedAt - startedAt) * 1e6;
    const cpu = process.cpuUsage(cpuBefore);
    const threadAfter = threadTimes();
    const generatorCpuPercent = (((cpu.user + cpu.system) * 1000) / wallNs) * 100;
    const calls = tally.ok + tally.badStatus + tally.badReason + tally.errors;
    return {
      calls,
      ok: tally.ok,
      badStatus: tally.badStatus,
      badReason: tally.badReason,
      errors: tally.errors,
      warmupFailed: warm.badStatus + warm.badReason + warm.errors,
      firstProblem: tally.firstProblem ?? warm.firstProblem,
      seconds: wallNs / 1e9,
      callsPerSecond: calls / (wallNs / 1e9),
      latencyUs: histogramPercentiles(histogram),
      generatorCpuPercent,
      generatorBusyPercent:
        threadBefore === undefined || threadAfter === undefined
          ? generatorCpuPercent
          : ((threadAfter - threadBefore) / wallNs) * 100,
    };
  } finally {
    for (const connection of connections) connection.close();
  }
}

/**
 * Nanoseconds this thread has run plus waited on a run queue (the first two fields of
 * /proc/thread-self/schedstat), or undefined where the kernel does not provide them.
 */
function threadTimes(): number | undefined {
  try {
    const [running, waiting] = readFileSync("/proc/thread-self/schedstat", "latin1").split(" ").map(Number);
    return running !== undefined && waiting !== undefined ? running + waiting : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Sends the frames over the connections, `streams` in flight on each, until all are answered or
 * the deadline (performance.now() ms) passes; checks every answer and records its latency.
 */
function pump(
  connections: readonly UnaryConnection[],
  frames: readonly Buffer[],
  options: LoadOptions,
  deadline: number,
  histogram: ReturnType<typeof newHistogram> | undefined,
): Promise<Tally> {
  const tally: Tally = {
    ok: 0,
    badStatus: 0,
    badReason: 0,
    errors: 0,
    firstProblem: undefined,
    lastAnswerAt: 0,
  };
  const count = (answer: UnaryAnswer) => {
    const problem = check(answer, options.expect);
    if (problem === undefined) tally.ok++;
    else {
      tally[problem[0]]++;
      tally.firstProblem ??= problem[1];
    }
  };
  let next = 0;
  let inFlight = 0;
  return new Promise<Tally>((resolve) => {
    const issue = (connection: UnaryConnection) => {
      if (next >= frames.length || performance.now() >= deadline) {
        if (inFlight === 0) resolve(tally);
        return;
      }
      const frame = frames[next++] as Buffer;
      inFlight++;
      const sentAt = performance.now();
      connection.send((answer, endedAt) => {
        inFlight--;
        if (histogram !== undefined) recordUs(histogram, (endedAt - sentAt) * 1000);
        tally.lastAnswerAt = endedAt;
        count(answer);
        issue(connection);
      }, frame);
    };
    if (frames.length === 0) resolve(tally);
    for (const connection of connections) for (let i = 0; i < options.streams; i++) issue(connection);
  });
}

/** Why an answer is not the expected one, or undefined when it is. */
function check(
  answer: UnaryAnswer,
  expect: Reason,
): ["badStatus" | "badReason" | "errors", string] | undefined {
  if (answer.error !== undefined) return ["errors", answer.error];
  if (answer.httpStatus !== "200" || answer.grpcStatus !== "0")
    return [
      "badStatus",
      `HTTP ${answer.httpStatus}, grpc-status ${answer.grpcStatus}: ${answer.grpcMessage ?? ""}`,
    ];
  const message = answer.body && unframe(answer.body);
  if (message === undefined) return ["badReason", "reason (not one frame)"];
  const reason = fromBinary(AuthorizeResponseSchema, message).reason;
  return reason === expect ? undefined : ["badReason", `reason ${Reason[reason]}`];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      target: { type: "string" },
      expect: { type: "string", default: "ALLOWED" },
      keys: { type: "string" },
      from: { type: "string", default: "0" },
      bogus: { type: "boolean", default: false },
      count: { type: "string", default: "100000" },
      seconds: { type: "string", default: "10" },
      connections: { type: "string", default: "4" },
      streams: { type: "string", default: "32" },
      warmup: { type: "string", default: "500" },
      scope: { type: "string", default: "orders:read" },
    },
  });
  const expect = Reason[values.expect as keyof typeof Reason];
  if (values.target === undefined || expect === undefined || (values.keys === undefined) === !values.bogus) {
    process.stderr.write(
      "usage: loadgen.ts --target host:port --expect REASON (--keys FILE --from N | --bogus) --count N\n",
    );
    process.exit(2);
  }
  const count = Number(values.count);
  let keys: string[];
  if (values.keys !== undefined) {
    const from = Number(values.from);
    keys = readFileSync(values.keys, "utf8")
      .split("\n", from + count)
      .slice(from);
    if (keys.length < count) throw new Error(`${values.keys} holds only ${from + keys.length} keys`);
  } else keys = Array.from({ length: count }, () => generateKey("kw", "live"));
  const result = await runLoad({
    target: values.target,
    keys,
    scope: values.scope,
    expect,
    connections: Number(values.connections),
    streams: Number(values.streams),
    seconds: Number(values.seconds),
    warmup: Math.min(Number(values.warmup), Math.floor(count / 4)),
  });
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
