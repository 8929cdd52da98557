import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { GRPC_HEADERS } from "./grpc-frame.js";
import { connectUnary, type UnaryAnswer, type UnaryConnection } from "./h2-unary-client.js";
import { type HistogramPercentiles, histogramPercentiles, newHistogram, recordUs } from "./histogram.js";

// An open-loop load generator for scenario 6: request i is due at t0 + i / rate, evenly spaced,
// whatever is still in flight; the requests go round-robin over a few HTTP/2 connections. A loop
// sends everything that is due and yields with setImmediate (setTimeout has 1 ms granularity), so
// a request leaves within a few µs of its time unless the generator itself is busy. Latency is
// recorded from the intended send time (which corrects for coordinated omission: a stall of the
// server or the generator delays every request scheduled during it, and that delay counts) and
// from the actual send time; how late each send was is recorded too, so a generator that cannot
// keep up shows as late sends and a lower sent rate, and bench/measure.ts marks the run invalid.
// Every answer is checked: HTTP 200, grpc-status 0, and the body exactly the expected frame.
//
//   node --import tsx bench/open-loop.ts --target 127.0.0.1:PORT --path /pkg.Service/Method \
//     --body request.bin --expect answer.bin --rate 6000 --seconds 6 \
//     [--warmup-seconds 1 --connections 4 --drain-seconds 5 --header 'name: value' …]
//
// --body and --expect hold gRPC frames (flag, length, protobuf bytes). The first --warmup-seconds
// of the schedule are sent and checked but not recorded (the generator's own JIT warm-up). Bounded:
// rate × (warm-up + seconds) requests, then at most --drain-seconds for the last answers. Prints one
// JSON line (OpenLoopResult). Run it pinned (taskset -c 1): bench/measure.ts does.

type Percentiles = HistogramPercentiles;

/** What a run measured, printed as JSON. Latencies in µs; counts cover the measured part only. */
export interface OpenLoopResult {
  /** The intended rate, calls/s. */
  readonly rate: number;
  /** Calls scheduled in the measured part (rate × seconds). */
  readonly planned: number;
  /** Calls of the warm-up before it (rate × warm-up seconds): the server answered those too. */
  readonly warmupCalls: number;
  readonly sent: number;
  readonly ok: number;
  readonly badStatus: number;
  readonly badAnswer: number;
  readonly errors: number;
  /** Still in flight when the drain time ran out. */
  readonly unanswered: number;
  /** Calls of the warm-up not answered as expected (or not at all). */
  readonly warmupFailed: number;
  readonly firstProblem: string | undefined;
  /** Achieved rate: measured calls over the time from the first send to the last. */
  readonly sentPerSecond: number;
  /** Measured calls answered over the time from the first send to the last answer. */
  readonly answeredPerSecond: number;
  /** From the intended send time to the end of the answer: what a caller arriving then waits. */
  readonly latencyUs: Percentiles;
  /** From the actual send time to the end of the answer (not corrected for coordinated omission). */
  readonly serviceLatencyUs: Percentiles;
  /** Actual minus intended send time: the generator's own delay. */
  readonly sendLateUs: Percentiles;
  readonly maxInFlight: number;
  /** Sends that waited for the server's flow-control window (their lateness is not seen). */
  readonly blockedSends: number;
  /**
   * CPU time the generator got while sending, in % of the wall time: it spins while it waits,
   * so what it did not get went to other processes and interrupts on its CPU.
   */
  readonly cpuPercent: number;
}

/** What to send, how fast and for how long, and the answer every call must get. */
export interface OpenLoopOptions {
  readonly target: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
  readonly expect: Buffer;
  readonly rate: number;
  readonly seconds: number;
  readonly warmupSeconds: number;
  readonly connections: number;
  readonly drainSeconds: number;
}

type Outcome = "ok" | "badStatus" | "badAnswer" | "error";

/** Runs the open loop; see the file's comment. */
export async function openLoop(options: OpenLoopOptions): Promise<OpenLoopResult> {
  const request = {
    path: options.path,
    headers: { ...GRPC_HEADERS, ...options.headers },
    body: options.body,
  };
  const connections = await Promise.all(
    Array.from({ length: options.connections }, () => connectUnary(options.target, request)),
  );
  const fromIntended = newHistogram();
  const fromSent = newHistogram();
  const late = newHistogram();
  const counts: Record<Outcome, number> = { ok: 0, badStatus: 0, badAnswer: 0, error: 0 };
  let firstProblem: string | undefined;
  let warmupFailed = 0;
  const warm = Math.round(options.rate * options.warmupSeconds);
  const total = warm + Math.round(options.rate * options.seconds);
  const intervalMs = 1000 / options.rate;
  let next = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  let firstSentAt = 0;
  let lastSentAt = 0;
  let lastAnsweredAt = 0;
  let cpuPercent = 0;
  let finished = false;

  const check = (answer: UnaryAnswer): [Outcome, string | undefined] => {
    if (answer.error !== undefined) return ["error", answer.error];
    if (answer.httpStatus !== "200" || answer.grpcStatus !== "0")
      return [
        "badStatus",
        `HTTP ${answer.httpStatus}, grpc-status ${answer.grpcStatus}: ${answer.grpcMessage ?? ""}`,
      ];
    if (answer.body === undefined || !answer.body.equals(options.expect))
      return ["badAnswer", `an answer of ${answer.body?.length ?? 0} bytes, not the expected`];
    return ["ok", undefined];
  };

  return new Promise<OpenLoopResult>((resolve) => {
    let drainTimer: NodeJS.Timeout | undefined;
    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(drainTimer);
      // Whatever is still in flight counts as unanswered (warm-up calls are long done by now).
      const unanswered = inFlight;
      const blockedSends = connections.reduce((sum, connection) => sum + connection.blockedSends(), 0);
      for (const connection of connections) connection.close();
      const measured = total - warm;
      resolve({
        rate: options.rate,
        planned: measured,
        warmupCalls: warm,
        sent: next - warm,
        ok: counts.ok,
        badStatus: counts.badStatus,
        badAnswer: counts.badAnswer,
        errors: counts.error,
        unanswered,
        warmupFailed,
        firstProblem,
        sentPerSecond: ((measured - 1) / (lastSentAt - firstSentAt)) * 1000,
        answeredPerSecond: (counts.ok / (lastAnsweredAt - firstSentAt)) * 1000,
        latencyUs: histogramPercentiles(fromIntended),
        serviceLatencyUs: histogramPercentiles(fromSent),
        sendLateUs: histogramPercentiles(late),
        maxInFlight,
        blockedSends,
        cpuPercent,
      });
    };

    const t0 = performance.now() + 5;
    const cpuBefore = process.cpuUsage();
    const send = (index: number, intendedAt: number) => {
      const measured = index >= warm;
      inFlight++;
      if (inFlight > maxInFlight) maxInFlight = inFlight;
      const sentAt = performance.now();
      if (index === warm) firstSentAt = sentAt;
      lastSentAt = sentAt;
      (connections[index % connections.length] as UnaryConnection).send((answer, endedAt) => {
        if (finished) return;
        inFlight--;
        const [outcome, problem] = check(answer);
        if (problem !== undefined) firstProblem ??= problem;
        if (measured) {
          counts[outcome]++;
          recordUs(fromIntended, (endedAt - intendedAt) * 1000);
          recordUs(fromSent, (endedAt - sentAt) * 1000);
          recordUs(late, (sentAt - intendedAt) * 1000);
          lastAnsweredAt = endedAt;
        } else if (outcome !== "ok") warmupFailed++;
        // One socket read can hold hundreds of answers (after a pause of the server): sends that
        // fall due while they are processed go between them, not after them all.
        sendDue();
        if (next === total && inFlight === 0) finish();
      });
    };

    /** Sends everything due, each stamped with its own intended time. */
    function sendDue() {
      const now = performance.now();
      for (let intendedAt = t0 + next * intervalMs; next < total && intendedAt <= now; ) {
        send(next, intendedAt);
        next++;
        intendedAt = t0 + next * intervalMs;
      }
    }
    const tick = () => {
      sendDue();
      if (next < total) setImmediate(tick);
      else {
        const cpu = process.cpuUsage(cpuBefore);
        cpuPercent = ((cpu.user + cpu.system) / 1000 / (performance.now() - t0)) * 100;
        if (!finished) drainTimer = setTimeout(finish, options.drainSeconds * 1000);
      }
    };
    setImmediate(tick);
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      target: { type: "string" },
      path: { type: "string" },
      body: { type: "string" },
      expect: { type: "string" },
      header: { type: "string", multiple: true, default: [] },
      rate: { type: "string" },
      seconds: { type: "string", default: "6" },
      "warmup-seconds": { type: "string", default: "1" },
      connections: { type: "string", default: "4" },
      "drain-seconds": { type: "string", default: "5" },
    },
  });
  const { target, path, body, expect, rate } = values;
  if (target === undefined || path === undefined || body === undefined || expect === undefined || !rate) {
    process.stderr.write(
      "usage: open-loop.ts --target host:port --path /pkg.Service/Method --body FILE --expect FILE --rate N\n",
    );
    process.exit(2);
  }
  const headers = Object.fromEntries(
    values.header.map((line) => {
      const colon = line.indexOf(":");
      return [line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()];
    }),
  );
  const result = await openLoop({
    target,
    path,
    headers,
    body: readFileSync(body),
    expect: readFileSync(expect),
    rate: Number(rate),
    seconds: Number(values.seconds),
    warmupSeconds: Number(values["warmup-seconds"]),
    connections: Number(values.connections),
    drainSeconds: Number(values["drain-seconds"]),
  });
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
