import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort, type PinnedServer, startPinned } from "./processes.js";

/** Both servers are pinned to this CPU, the load generators to LOAD_CPU. */
export const SERVER_CPU = 0;
export const LOAD_CPU = 1;
/** Scenario 1w: server and h2load may all use both CPUs, with 1 worker and with 2 alike. */
export const SHARED_CPUS = `${SERVER_CPU},${LOAD_CPU}`;

/** The command `npm start` runs, read from package.json so that the bench runs exactly that. */
function startCommand(): string[] {
  const pkg = JSON.parse(readFileSync("package.json", "utf8")) as { scripts: { start: string } };
  const [command, ...args] = pkg.scripts.start.split(" ");
  return [command === "node" ? process.execPath : (command as string), ...args];
}

/** Keyward's process; `httpAddress` is its HTTP listener's when it was started with one. */
export interface KeywardServer extends PinnedServer {
  readonly httpAddress: string | undefined;
}

/**
 * Starts Keyward as `npm start` does, on 127.0.0.1 with the HTTP listener (Connect, forward auth)
 * off unless `http` is set, one worker unless told otherwise (KEYWARD_WORKERS), pinned to
 * SERVER_CPU unless told otherwise, and its log in the temp dir. `nodeOptions` go before the
 * entry point (e.g. --cpu-prof); `env` adds to its environment.
 */
export async function startKeyward(options: {
  readonly tempDir: string;
  readonly database: string;
  readonly name: string;
  readonly nodeOptions?: readonly string[];
  readonly workers?: number;
  readonly cpus?: string;
  readonly http?: boolean;
  /** More variables for its environment (scenario 12: OTEL_EXPORTER_OTLP_ENDPOINT). */
  readonly env?: Readonly<Record<string, string>>;
}): Promise<KeywardServer> {
  const port = await freePort();
  const httpAddress = options.http === true ? `127.0.0.1:${await freePort()}` : undefined;
  const [node, ...args] = startCommand();
  const workers = options.workers ?? 1;
  const server = await startPinned({
    name: `keyward (${options.name})`,
    cpus: options.cpus ?? String(SERVER_CPU),
    command: [node as string, ...(options.nodeOptions ?? []), ...args],
    env: {
      KEYWARD_LISTEN: `127.0.0.1:${port}`,
      KEYWARD_HTTP_LISTEN: httpAddress ?? "off",
      KEYWARD_DATABASE: options.database,
      KEYWARD_WORKERS: String(workers),
      ...options.env,
    },
    port,
    logFile: join(options.tempDir, `keyward-${options.name}.log`),
    // The port accepts once the first worker listens: wait for every worker (one log line each),
    // which logs after both of its listeners are up.
    ready: (log) => log.split('"msg":"keyward serving"').length - 1 >= workers,
  });
  return { ...server, httpAddress };
}

/** Starts bench/echo-server.ts answering each path with the given message bytes. */
export async function startEcho(options: {
  readonly tempDir: string;
  readonly name: string;
  readonly answers: Readonly<Record<string, Uint8Array>>;
}): Promise<PinnedServer> {
  const port = await freePort();
  const answersFile = join(options.tempDir, `echo-${options.name}.json`);
  const encoded = Object.fromEntries(
    Object.entries(options.answers).map(([path, bytes]) => [path, Buffer.from(bytes).toString("base64")]),
  );
  writeFileSync(answersFile, JSON.stringify(encoded));
  return startPinned({
    name: `echo (${options.name})`,
    cpus: String(SERVER_CPU),
    command: [
      process.execPath,
      "--import",
      "tsx",
      "bench/echo-server.ts",
      "--listen",
      `127.0.0.1:${port}`,
      "--responses",
      answersFile,
    ],
    env: {},
    port,
    logFile: join(options.tempDir, `echo-${options.name}.log`),
  });
}

/** Starts bench/http-echo-server.ts answering every request 200 with the given headers and no body. */
export async function startHttpEcho(options: {
  readonly tempDir: string;
  readonly name: string;
  readonly headers: readonly (readonly [string, string])[];
}): Promise<PinnedServer> {
  const port = await freePort();
  const headersFile = join(options.tempDir, `http-echo-${options.name}.json`);
  writeFileSync(headersFile, JSON.stringify(options.headers));
  return startPinned({
    name: `http echo (${options.name})`,
    cpus: String(SERVER_CPU),
    command: [
      process.execPath,
      "--import",
      "tsx",
      "bench/http-echo-server.ts",
      "--listen",
      `127.0.0.1:${port}`,
      "--headers",
      headersFile,
    ],
    env: {},
    port,
    logFile: join(options.tempDir, `http-echo-${options.name}.log`),
  });
}

/**
 * Starts bench/otlp-sink.ts (scenario 12's collector) on LOAD_CPU: a collector runs on other
 * machines, so its work is kept off the server's CPU and shares the load generator's.
 */
export async function startOtlpSink(options: { readonly tempDir: string }): Promise<PinnedServer> {
  const port = await freePort();
  return startPinned({
    name: "otlp sink",
    cpus: String(LOAD_CPU),
    command: [process.execPath, "--import", "tsx", "bench/otlp-sink.ts", "--listen", `127.0.0.1:${port}`],
    env: {},
    port,
    logFile: join(options.tempDir, "otlp-sink.log"),
  });
}
