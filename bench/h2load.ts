import { spawn, spawnSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { type HistogramPercentiles, histogramPercentiles, newHistogram, recordUs } from "./histogram.js";
import { LOAD_CPU } from "./servers.js";

/** Exits with the install hint when h2load or nghttp (both Debian nghttp2-client) is missing. */
export function requireNghttp2Client(): void {
  for (const tool of ["h2load", "nghttp"]) {
    if (spawnSync(tool, ["--version"]).status !== 0) {
      process.stderr.write(
        `bench: ${tool} not found; install it with: apt-get install nghttp2-client\n` +
          "(the nghttp2-client package provides h2load and nghttp)\n",
      );
      process.exit(1);
    }
  }
}

/**
 * A request as h2load and nghttp send it: POST of a pre-built gRPC body, or, without a body file,
 * a plain GET with only the given headers (scenario 9's forward auth).
 */
export interface H2Request {
  readonly url: string;
  /** File holding the gRPC frame (flag, length, protobuf bytes); absent for a plain GET. */
  readonly bodyFile?: string;
  /** Extra headers, e.g. authorization; with a body, content-type and te are always sent. */
  readonly headers: readonly string[];
}

const GRPC_H = ["-H", "content-type: application/grpc", "-H", "te: trailers"];

function requestArgs(request: H2Request): string[] {
  const headers = request.headers.flatMap((header) => ["-H", header]);
  return request.bodyFile === undefined ? headers : [...GRPC_H, ...headers, "-d", request.bodyFile];
}

/** A gRPC call as h2load and nghttp send it: a POST of the frame in bodyFile. */
export type GrpcH2Request = H2Request & { readonly bodyFile: string };

/** One call with `nghttp -v`: throws with its output unless the trailers say `grpc-status: 0`. */
export function nghttpCheck(request: GrpcH2Request): void {
  const result = spawnSync("nghttp", ["-v", ...requestArgs(request), request.url], {
    encoding: "latin1",
    timeout: 10_000,
  });
  const output = `${result.stdout}${result.stderr}`;
  if (!/grpc-status: 0\b/.test(output)) {
    throw new Error(`nghttp: no "grpc-status: 0" from ${request.url}:\n${output.slice(-3000)}`);
  }
}

/** h2load's shape for capacity, as in the measuring notes: 8 connections × 16 streams. */
export const H2LOAD_SHAPE = { clients: 8, streams: 16 } as const;

export interface H2loadOptions {
  readonly requests: number;
  readonly clients: number;
  readonly streams: number;
  /** HTTP/1.1 with keep-alive (`--h1`): one request in flight per connection, so streams must be 1. */
  readonly h1?: boolean;
  /** The CPUs h2load may use (`taskset -c`); LOAD_CPU unless told otherwise. */
  readonly cpus?: string;
  readonly logFile: string;
  /** The run is killed (and fails) after this long. */
  readonly timeoutSeconds: number;
}

export interface H2loadResult {
  readonly requests: number;
  readonly seconds: number;
  readonly callsPerSecond: number;
  readonly status2xx: number;
  readonly succeeded: number;
  readonly dataBytes: number;
  /** Every byte h2load read: with --h1, the status lines, header blocks and bodies of the answers. */
  readonly totalBytes: number;
  /** Per-request latency from --log-file (third column), µs. */
  readonly latencyUs: HistogramPercentiles;
  /** CPU time h2load itself used (user + system), s. */
  readonly cpuSeconds: number;
}

// The shell's `times` prints the CPU time of its finished children (h2load) after h2load's own
// output: the generator's CPU use, which matters where it shares CPUs with the server (scenario 1w).
const WITH_TIMES = 'h2load "$@"; status=$?; times; exit $status';

/** Runs h2load pinned (LOAD_CPU unless told otherwise), one thread, and reads its summary and log file. */
export async function runH2load(request: H2Request, options: H2loadOptions): Promise<H2loadResult> {
  const args = [
    "-c",
    options.cpus ?? String(LOAD_CPU),
    "sh",
    "-c",
    WITH_TIMES,
    "h2load",
    "-t",
    "1",
    "-c",
    String(options.clients),
    "-m",
    String(options.streams),
    ...(options.h1 === true ? ["--h1"] : []),
    "-n",
    String(options.requests),
    `--log-file=${options.logFile}`,
    ...requestArgs(request),
    request.url,
  ];
  rmSync(options.logFile, { force: true });
  const stdout = await run("taskset", args, options.timeoutSeconds);
  const finished = match(stdout, /finished in ([\d.]+)(ms|s),/);
  // `times`: the shell's user and system time, then its children's: "0m1.234000s 0m0.456000s".
  const children = match(stdout, /(\d+)m([\d.]+)s (\d+)m([\d.]+)s\s*$/);
  const minutes = (m: string | undefined, s: string | undefined) => Number(m) * 60 + Number(s);
  const seconds = Number(finished[1]) / (finished[2] === "ms" ? 1000 : 1);
  const latencies = newHistogram();
  for (const line of readFileSync(options.logFile, "utf8").split("\n"))
    if (line !== "") recordUs(latencies, Number(line.split("\t")[2]));
  rmSync(options.logFile, { force: true });
  return {
    requests: options.requests,
    seconds,
    callsPerSecond: options.requests / seconds,
    status2xx: Number(match(stdout, /status codes: (\d+) 2xx/)[1]),
    succeeded: Number(match(stdout, /requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded/)[1]),
    dataBytes: Number(match(stdout, /\((\d+)\) data/)[1]),
    totalBytes: Number(match(stdout, /traffic: \S+ \((\d+)\) total/)[1]),
    latencyUs: histogramPercentiles(latencies),
    cpuSeconds: minutes(children[1], children[2]) + minutes(children[3], children[4]),
  };
}

/**
 * Runs a command in a process group of its own and resolves with its stdout; after timeoutSeconds
 * the whole group is killed (the shell and h2load), and it fails.
 */
function run(command: string, args: readonly string[], timeoutSeconds: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { detached: true, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      out += chunk;
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      err += chunk;
    });
    const timer = setTimeout(() => {
      try {
        process.kill(-(child.pid as number), "SIGKILL");
      } catch {
        // already gone
      }
    }, timeoutSeconds * 1000);
    child.once("error", reject);
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`h2load failed (${signal ?? `exit ${code}`}):\n${out}${err}`));
    });
  });
}

function match(text: string, pattern: RegExp): RegExpExecArray {
  const found = pattern.exec(text);
  if (found === null) throw new Error(`unexpected h2load output (no ${pattern}):\n${text}`);
  return found;
}
