import { execFile, spawnSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { type Percentiles, percentiles } from "./percentiles.js";
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

/** A request as h2load and nghttp send it: POST of a pre-built gRPC body. */
export interface H2Request {
  readonly url: string;
  /** File holding the gRPC frame (flag, length, protobuf bytes). */
  readonly bodyFile: string;
  /** Extra headers, e.g. authorization; content-type and te are always sent. */
  readonly headers: readonly string[];
}

const GRPC_H = ["-H", "content-type: application/grpc", "-H", "te: trailers"];

function headerArgs(request: H2Request): string[] {
  return [...GRPC_H, ...request.headers.flatMap((header) => ["-H", header])];
}

/** One call with `nghttp -v`: throws with its output unless the trailers say `grpc-status: 0`. */
export function nghttpCheck(request: H2Request): void {
  const result = spawnSync("nghttp", ["-v", ...headerArgs(request), "-d", request.bodyFile, request.url], {
    encoding: "latin1",
    timeout: 10_000,
  });
  const output = `${result.stdout}${result.stderr}`;
  if (!/grpc-status: 0\b/.test(output)) {
    throw new Error(`nghttp: no "grpc-status: 0" from ${request.url}:\n${output.slice(-3000)}`);
  }
}

export interface H2loadOptions {
  readonly requests: number;
  readonly clients: number;
  readonly streams: number;
  /** Open loop: requests per second per client (h2load --rps); undefined for as fast as it goes. */
  readonly rpsPerClient?: number;
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
  /** Per-request latency from --log-file (third column), µs. */
  readonly latencyUs: Percentiles;
}

/** Runs h2load pinned to LOAD_CPU, one thread, and reads its summary and log file. */
export async function runH2load(request: H2Request, options: H2loadOptions): Promise<H2loadResult> {
  const args = [
    "-c",
    String(LOAD_CPU),
    "h2load",
    "-t",
    "1",
    "-c",
    String(options.clients),
    "-m",
    String(options.streams),
    "-n",
    String(options.requests),
    ...(options.rpsPerClient === undefined ? [] : ["--rps", String(options.rpsPerClient)]),
    `--log-file=${options.logFile}`,
    ...headerArgs(request),
    "-d",
    request.bodyFile,
    request.url,
  ];
  rmSync(options.logFile, { force: true });
  const stdout = await new Promise<string>((resolve, reject) =>
    execFile(
      "taskset",
      args,
      { timeout: options.timeoutSeconds * 1000, killSignal: "SIGKILL", maxBuffer: 1 << 22 },
      (error, out, err) =>
        error ? reject(new Error(`h2load failed: ${error.message}\n${out}${err}`)) : resolve(out),
    ),
  );
  const finished = match(stdout, /finished in ([\d.]+)(ms|s),/);
  const seconds = Number(finished[1]) / (finished[2] === "ms" ? 1000 : 1);
  const latencies = readFileSync(options.logFile, "utf8")
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => Number(line.split("\t")[2]));
  rmSync(options.logFile, { force: true });
  return {
    requests: options.requests,
    seconds,
    callsPerSecond: options.requests / seconds,
    status2xx: Number(match(stdout, /status codes: (\d+) 2xx/)[1]),
    succeeded: Number(match(stdout, /requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded/)[1]),
    dataBytes: Number(match(stdout, /\((\d+)\) data/)[1]),
    latencyUs: percentiles(latencies),
  };
}

function match(text: string, pattern: RegExp): RegExpExecArray {
  const found = pattern.exec(text);
  if (found === null) throw new Error(`unexpected h2load output (no ${pattern}):\n${text}`);
  return found;
}
