import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { callOnce, grpcFrame, unframe } from "./grpc-frame.js";
import { type GrpcH2Request, nghttpCheck } from "./h2load.js";
import { GENERATOR_BOUND, type RunResult, type Side, type Summary } from "./measure.js";
import type { PinnedServer } from "./processes.js";

/** How much work a run does: `--quick` or the full run. */
export interface BenchConfig {
  readonly quick: boolean;
  /** Keys seeded into the store (scenario 3 draws distinct keys from them, scenario 7 caches them). */
  readonly keys: number;
  readonly rounds: number;
  /** h2load: warm-up requests per side, then n sized so that the slower side runs about runSeconds. */
  readonly warmRequests: number;
  readonly issueWarmRequests: number;
  readonly runSeconds: number;
  readonly minRequests: number;
  readonly maxRequests: number;
  /** Scenario 6: seconds of open-loop load per run. */
  readonly latencySeconds: number;
  /**
   * Scenario 6's sweep (rows 6b, 6c, …): lower rates as fractions of scenario 1's Keyward maximum,
   * with fewer rounds and shorter runs than the judged rate; informative, not judged.
   */
  readonly latencySweep: {
    readonly fractions: readonly number[];
    readonly rounds: number;
    readonly seconds: number;
  };
  /** bench/loadgen.ts: requests and seconds per run (whichever ends first), and for its warm-up. */
  readonly loadgenCount: number;
  readonly loadgenSeconds: number;
  readonly loadgenWarmCount: number;
  readonly loadgenWarmSeconds: number;
  /** Scenario 10: revocations measured between the two replicas, and the time they may take in all. */
  readonly revocations: number;
  readonly revocationSeconds: number;
}

export const FULL: BenchConfig = {
  quick: false,
  keys: 1_000_000,
  rounds: 3,
  warmRequests: 20_000,
  issueWarmRequests: 2_000,
  runSeconds: 4,
  minRequests: 10_000,
  maxRequests: 200_000,
  latencySeconds: 6,
  latencySweep: { fractions: [0.35, 0.25, 0.15, 0.05], rounds: 2, seconds: 3 },
  loadgenCount: 150_000,
  loadgenSeconds: 6,
  loadgenWarmCount: 20_000,
  loadgenWarmSeconds: 3,
  revocations: 200,
  revocationSeconds: 120,
};

export const QUICK: BenchConfig = {
  quick: true,
  keys: 100_000,
  rounds: 1,
  warmRequests: 5_000,
  issueWarmRequests: 500,
  runSeconds: 1.5,
  minRequests: 2_000,
  maxRequests: 40_000,
  latencySeconds: 2,
  latencySweep: { fractions: [0.35, 0.25, 0.15, 0.05], rounds: 1, seconds: 1.5 },
  loadgenCount: 20_000,
  loadgenSeconds: 2,
  loadgenWarmCount: 5_000,
  loadgenWarmSeconds: 1.5,
  revocations: 40,
  revocationSeconds: 30,
};

/** What every scenario needs: the seeded store, its secrets, where to put files, a progress line. */
export interface BenchContext {
  readonly config: BenchConfig;
  readonly tempDir: string;
  /** `sqlite:<path>` of the seeded store (scenarios 10 and 11: a seeded PostgreSQL schema's URL). */
  readonly database: string;
  /** The seeded secrets, one a line: line 0 is the cached key, the last line the capture key. */
  readonly secretsFile: string;
  readonly secrets: { readonly first: string; readonly last: string };
  readonly adminSecret: string;
  progress(line: string): void;
}

/** One row of the report. */
export interface ScenarioResult {
  readonly id: string;
  readonly name: string;
  readonly tool: string;
  readonly keyward?: Summary;
  readonly echo?: Summary;
  /** keyward ÷ echo calls/s, medians of the same run. */
  readonly ratio?: number;
  /** keyward ÷ echo of each round alone (neighbouring runs): the spread of the ratio. */
  readonly roundRatios?: readonly number[];
  readonly target: string;
  /** undefined when the target was not evaluated (invalid run, or not applicable in --quick). */
  readonly met: boolean | undefined;
  /** How far from the target, in the target's own unit. */
  readonly margin: string;
  /** Why the ratio is refused (shown as n/a): a run measured its load generator, not the server. */
  readonly refused?: string;
  readonly runs?: Record<Side, readonly RunResult[]>;
  readonly details?: Readonly<Record<string, unknown>>;
  /** The table's cells for rows that compare something other than Keyward with the echo server. */
  readonly cells?: Readonly<Partial<Record<"keyward" | "echo" | "cpu" | "met", string>>>;
}

/** A unary request as every tool sends it: the path, its gRPC frame (also in a file) and headers. */
export interface BenchRequest {
  readonly path: string;
  readonly frame: Buffer;
  readonly bodyFile: string;
  readonly headers: Readonly<Record<string, string>>;
}

export function benchRequest(
  context: BenchContext,
  name: string,
  path: string,
  message: Uint8Array,
  headers: Readonly<Record<string, string>> = {},
): BenchRequest {
  const frame = grpcFrame(message);
  const bodyFile = join(context.tempDir, `${name}.bin`);
  writeFileSync(bodyFile, frame);
  return { path, frame, bodyFile, headers };
}

/** The request as h2load and nghttp send it to a server. */
export function h2Request(server: PinnedServer, request: BenchRequest): GrpcH2Request {
  return {
    url: `http://${server.address}${request.path}`,
    bodyFile: request.bodyFile,
    headers: Object.entries(request.headers).map(([name, value]) => `${name}: ${value}`),
  };
}

/**
 * Checks a server with `nghttp -v` (grpc-status: 0 in the trailers), then calls it once more
 * and returns the answer's protobuf bytes, which must be one uncompressed gRPC frame.
 */
export async function checkAndCapture(server: PinnedServer, request: BenchRequest): Promise<Buffer> {
  nghttpCheck(h2Request(server, request));
  const call = await callOnce(server.address, request.path, request.frame, request.headers);
  if (call.httpStatus !== 200 || call.grpcStatus !== "0") {
    throw new Error(
      `${server.name} ${request.path}: HTTP ${call.httpStatus}, grpc-status ${call.grpcStatus} ${call.grpcMessage ?? ""}`,
    );
  }
  const message = unframe(call.body);
  if (message === undefined) throw new Error(`${server.name} ${request.path}: not one gRPC frame`);
  return message;
}

/** Fails unless the echo server answers with exactly the bytes it was given. */
export async function checkEcho(echo: PinnedServer, request: BenchRequest, expected: Buffer): Promise<void> {
  const answer = await checkAndCapture(echo, request);
  if (!answer.equals(expected))
    throw new Error(`${echo.name} ${request.path}: answer differs from Keyward's`);
}

/** Formats a signed difference, e.g. +0.04 or −120. */
export function signed(value: number, digits = 2): string {
  const text = Math.abs(value).toFixed(digits);
  return value < 0 ? `−${text}` : `+${text}`;
}

/**
 * Evaluates a "ratio ≥ target" row. The ratio is refused when a run of either side was limited
 * by its load generator: the echo side's calls/s would then be the generator's, not the ceiling's.
 */
export function ratioTarget(
  runs: Record<Side, readonly RunResult[]>,
  keyward: Summary,
  echo: Summary,
  minimum: number,
): Pick<ScenarioResult, "ratio" | "roundRatios" | "target" | "met" | "margin" | "refused"> {
  const ratio = keyward.callsPerSecond / echo.callsPerSecond;
  const valid = keyward.valid && echo.valid;
  const bound = (["keyward", "echo"] as const).flatMap((side) =>
    runs[side].flatMap((run, round) =>
      run.problems.some((problem) => problem.startsWith(GENERATOR_BOUND))
        ? [`${side} round ${round + 1} (${Math.round(run.generatorBusyPercent ?? 0)} %)`]
        : [],
    ),
  );
  if (bound.length > 0) {
    const refused = `generator-bound: ${bound.join(", ")}`;
    return {
      ratio,
      target: `ratio ≥ ${minimum.toFixed(2)}`,
      met: undefined,
      margin: `n/a: ${refused}`,
      refused,
    };
  }
  return {
    ratio,
    roundRatios: runs.keyward.map(
      (run, i) => run.callsPerSecond / (runs.echo[i]?.callsPerSecond ?? Number.NaN),
    ),
    target: `ratio ≥ ${minimum.toFixed(2)}`,
    met: valid ? ratio >= minimum : undefined,
    margin: `${signed(ratio - minimum)} (${signed(((ratio - minimum) / minimum) * 100, 0)} %)`,
  };
}
