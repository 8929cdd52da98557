import { readFileSync } from "node:fs";
import http2 from "node:http2";
import net from "node:net";
import { parseArgs } from "node:util";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import * as hdr from "hdr-histogram-js";
import { generateKey } from "../src/domain/key-format.js";
import {
  AuthorizeRequestSchema,
  AuthorizeResponseSchema,
} from "../src/gen/keyward/v1/authorize_service_pb.js";
import { Reason } from "../src/gen/keyward/v1/key_pb.js";
import { GRPC_HEADERS, grpcFrame, unframe } from "./grpc-frame.js";
import { histogramPercentiles, newHistogram } from "./histogram.js";

// A load generator for the scenarios h2load cannot do: a different key in every request.
// Worker threads, each with a few HTTP/2 connections, pre-built request frames and many streams
// in flight, bounded by a request count and a time limit; every answer is checked (grpc-status
// trailer 0, one frame, the expected Reason) and its latency recorded in an HDR histogram.
//
//   node --import tsx bench/loadgen.ts --target 127.0.0.1:PORT --expect ALLOWED \
//     --keys secrets.txt --from 1 --count 100000 [--seconds 8 --workers 1 --connections 4 --streams 32 --warmup 500]
//   node --import tsx bench/loadgen.ts --target 127.0.0.1:PORT --expect KEY_NOT_FOUND --bogus --count 100000
//
// --count bounds the requests (the first --warmup of each worker are sent untimed, to warm up the
// generator itself), --seconds the timed part. Prints one JSON line (LoadgenResult). Run it
// pinned (taskset -c 1): bench/run.ts does.

const PATH = "/keyward.v1.AuthorizeService/Authorize";

// On Node 20 a worker does not inherit tsx's loader hooks (not even with --import in its
// execArgv): it registers them itself, then loads this file.
const WORKER_BOOTSTRAP = `import(${JSON.stringify(import.meta.resolve("tsx/esm/api"))})
  .then((tsx) => { tsx.register(); return import(${JSON.stringify(import.meta.url)}); });`;

interface WorkerInput {
  readonly target: string;
  /** The keys this worker sends, one per request; empty with bogus. */
  readonly keys: readonly string[];
  readonly bogus: number;
  readonly scope: string;
  readonly expect: Reason;
  /** HTTP/2 connections of this worker: one connection alone is limited by round trips, not CPU. */
  readonly connections: number;
  /** Streams in flight per connection. */
  readonly streams: number;
  readonly seconds: number;
  /** Requests sent (and checked) before the timed part, from this worker's share of the count. */
  readonly warmup: number;
}

interface WorkerResult {
  readonly calls: number;
  readonly ok: number;
  readonly badStatus: number;
  readonly badReason: number;
  readonly errors: number;
  readonly warmupFailed: number;
  readonly firstProblem: string | undefined;
  readonly startMs: number;
  readonly endMs: number;
  readonly histogram: string;
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
  readonly latencyUs: { p50: number; p99: number; p999: number; max: number };
  /** CPU the generator used during the run, in % of one core: near 100 means it was the limit. */
  readonly generatorCpuPercent: number;
}

async function runWorker(input: WorkerInput): Promise<WorkerResult> {
  const keys =
    input.bogus > 0 ? Array.from({ length: input.bogus }, () => generateKey("kw", "live")) : input.keys;
  const frames = keys.map((apiKey) =>
    grpcFrame(
      toBinary(
        AuthorizeRequestSchema,
        create(AuthorizeRequestSchema, { apiKey, requiredScopes: [input.scope] }),
      ),
    ),
  );
  const [host, port] = splitAddress(input.target);
  const sessions = await Promise.all(
    Array.from({ length: input.connections }, async () => {
      // Without TCP_NODELAY, Nagle's algorithm and delayed ACKs stall small frames by up to 40 ms.
      const session = http2.connect(`http://${input.target}`, {
        createConnection: () => net.connect({ host, port, noDelay: true }),
      });
      await new Promise<void>((resolve, reject) => {
        session.once("connect", () => resolve());
        session.once("error", reject);
      });
      return session;
    }),
  );
  // The generator's own warm-up (JIT, connections), untimed: each process is fresh.
  const warm = await pump(
    sessions,
    frames.slice(0, input.warmup),
    input,
    Number.POSITIVE_INFINITY,
    undefined,
  );
  parentPort?.postMessage({ ready: true });
  await new Promise((resolve) => parentPort?.once("message", resolve));

  const histogram = newHistogram();
  const startMs = performance.timeOrigin + performance.now();
  const deadline = performance.now() + input.seconds * 1000;
  const tally = await pump(sessions, frames.slice(input.warmup), input, deadline, histogram);
  for (const session of sessions) session.close();
  return {
    ...tally,
    calls: tally.ok + tally.badStatus + tally.badReason + tally.errors,
    warmupFailed: warm.badStatus + warm.badReason + warm.errors,
    firstProblem: tally.firstProblem ?? warm.firstProblem,
    startMs,
    histogram: hdr.encodeIntoCompressedBase64(histogram),
  };
}

interface Tally {
  ok: number;
  badStatus: number;
  badReason: number;
  errors: number;
  firstProblem: string | undefined;
  /** When the last answer arrived, ms since the epoch. */
  endMs: number;
}

/**
 * Sends the frames over the sessions, `streams` in flight on each, until all are answered or
 * the deadline (performance.now() ms) passes; checks every answer, records latencies (µs).
 */
function pump(
  sessions: readonly http2.ClientHttp2Session[],
  frames: readonly Buffer[],
  input: WorkerInput,
  deadline: number,
  histogram: ReturnType<typeof newHistogram> | undefined,
): Promise<Tally> {
  const headers = { ":method": "POST", ":path": PATH, ...GRPC_HEADERS };
  const tally: Tally = { ok: 0, badStatus: 0, badReason: 0, errors: 0, firstProblem: undefined, endMs: 0 };
  const problem = (text: string) => {
    tally.firstProblem ??= text;
  };
  let next = 0;
  let inFlight = 0;
  return new Promise<Tally>((resolve) => {
    const issue = (session: http2.ClientHttp2Session) => {
      if (next >= frames.length || performance.now() >= deadline) {
        if (inFlight === 0) resolve(tally);
        return;
      }
      const frame = frames[next++] as Buffer;
      inFlight++;
      const t0 = performance.now();
      const stream = session.request(headers);
      const chunks: Buffer[] = [];
      let status: string | undefined;
      let message: string | undefined;
      let failed = false;
      stream.on("response", (h) => {
        status = h["grpc-status"] as string | undefined; // trailers-only answer (an error)
        message = h["grpc-message"] as string | undefined;
      });
      stream.on("trailers", (t) => {
        status = t["grpc-status"] as string | undefined;
        message = t["grpc-message"] as string | undefined;
      });
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("error", (error: Error) => {
        failed = true;
        problem(`stream error: ${error.message}`);
      });
      stream.on("close", () => {
        const now = performance.now();
        histogram?.recordValue(Math.max(1, Math.round((now - t0) * 1000)));
        tally.endMs = performance.timeOrigin + now;
        inFlight--;
        if (failed) tally.errors++;
        else if (status !== "0") {
          tally.badStatus++;
          problem(`grpc-status ${status}: ${message}`);
        } else {
          const body = unframe(Buffer.concat(chunks));
          const reason = body && fromBinary(AuthorizeResponseSchema, body).reason;
          if (reason === input.expect) tally.ok++;
          else {
            tally.badReason++;
            problem(`reason ${reason === undefined ? "(not one frame)" : Reason[reason]}`);
          }
        }
        issue(session);
      });
      stream.end(frame);
    };
    if (frames.length === 0) resolve(tally);
    for (const session of sessions) for (let i = 0; i < input.streams; i++) issue(session);
  });
}

function splitAddress(address: string): [string, number] {
  const colon = address.lastIndexOf(":");
  return [address.slice(0, colon), Number(address.slice(colon + 1))];
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
      // One worker: the generator has one CPU, and two threads on it reached ~20 % less.
      workers: { type: "string", default: "1" },
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
  const workers = Number(values.workers);
  let keys: string[] = [];
  if (values.keys !== undefined) {
    const from = Number(values.from);
    keys = readFileSync(values.keys, "utf8")
      .split("\n", from + count)
      .slice(from);
    if (keys.length < count) throw new Error(`${values.keys} holds only ${from + keys.length} keys`);
  }
  const share = Math.ceil(count / workers);
  const threads = Array.from({ length: workers }, (_, i) => {
    const input: WorkerInput = {
      target: values.target as string,
      keys: keys.slice(i * share, (i + 1) * share),
      bogus: values.bogus ? Math.min(share, count - i * share) : 0,
      scope: values.scope,
      expect,
      connections: Number(values.connections),
      streams: Number(values.streams),
      seconds: Number(values.seconds),
      warmup: Math.min(Number(values.warmup), Math.floor(share / 4)),
    };
    return new Worker(WORKER_BOOTSTRAP, { eval: true, workerData: input });
  });
  await Promise.all(threads.map((thread) => new Promise((resolve) => thread.once("message", resolve))));
  const cpuBefore = process.cpuUsage();
  const results = await Promise.all(
    threads.map((thread) => {
      const done = new Promise<WorkerResult>((resolve, reject) => {
        thread.once("message", resolve);
        thread.once("error", reject);
      });
      thread.postMessage("go");
      return done;
    }),
  );
  const cpu = process.cpuUsage(cpuBefore);
  const histogram = newHistogram();
  for (const result of results) histogram.add(hdr.decodeFromCompressedBase64(result.histogram));
  const sum = (pick: (r: WorkerResult) => number) => results.reduce((total, r) => total + pick(r), 0);
  const seconds =
    (Math.max(...results.map((r) => r.endMs)) - Math.min(...results.map((r) => r.startMs))) / 1000;
  const output: LoadgenResult = {
    calls: sum((r) => r.calls),
    ok: sum((r) => r.ok),
    badStatus: sum((r) => r.badStatus),
    badReason: sum((r) => r.badReason),
    errors: sum((r) => r.errors),
    warmupFailed: sum((r) => r.warmupFailed),
    firstProblem: results.find((r) => r.firstProblem !== undefined)?.firstProblem,
    seconds,
    callsPerSecond: sum((r) => r.calls) / seconds,
    latencyUs: histogramPercentiles(histogram),
    generatorCpuPercent: ((cpu.user + cpu.system) / 1000 / (seconds * 1000)) * 100,
  };
  process.stdout.write(`${JSON.stringify(output)}\n`);
  await Promise.all(threads.map((thread) => thread.terminate()));
}

if (isMainThread) await main();
else parentPort?.postMessage(await runWorker(workerData as WorkerInput));
