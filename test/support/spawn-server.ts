import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { vi } from "vitest";
import { servingField } from "./log-lines.js";

/** The command `npm start` runs, read from package.json so the test runs exactly that. */
export function startCommand(): { command: string; args: string[] } {
  const pkg = JSON.parse(readFileSync("package.json", "utf8")) as { scripts: { start: string } };
  const [command, ...args] = pkg.scripts.start.split(" ");
  return { command: command === "node" ? process.execPath : (command as string), args };
}

export interface ServerProcess {
  readonly child: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** Resolves with the exit code (or the signal name). */
  readonly exited: Promise<number | string>;
  /** Resolves once every process that shared its output (npm's server, workers) has exited and all of it is read. */
  readonly closed: Promise<void>;
}

export interface SpawnOptions {
  /**
   * Starts the server as the leader of a process group of its own, which its cluster workers
   * join, so that killGroup() can kill the primary and every worker at once (kill -9 of a group).
   */
  readonly processGroup?: boolean;
  /** Runs the server as another user (tests that need a file the server cannot write). */
  readonly uid?: number;
  readonly gid?: number;
}

/** Starts Keyward as `npm start` does, in a child process with the given environment. */
export function spawnServer(env: Record<string, string>, options: SpawnOptions = {}): ServerProcess {
  const { command, args } = startCommand();
  // One worker unless a test asks for more: `npm start` would use one per CPU.
  return spawnCaptured(command, args, { KEYWARD_WORKERS: "1", ...env }, options);
}

/**
 * Runs a shell example that starts Keyward (a README or docs block: `npm start` with its variables) in
 * `bash -euo pipefail`, as spawnServer runs `npm start`. Use `processGroup` and stopGroup to stop it as
 * Ctrl-C in its terminal would: npm and the server alike.
 */
export function spawnScript(
  script: string,
  env: Record<string, string>,
  options: SpawnOptions = {},
): ServerProcess {
  return spawnCaptured("bash", ["-euo", "pipefail", "-c", script], env, options);
}

function spawnCaptured(
  command: string,
  args: readonly string[],
  env: Record<string, string>,
  options: SpawnOptions,
): ServerProcess {
  const child = spawn(command, args, {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: options.processGroup === true,
    ...(options.uid !== undefined && { uid: options.uid }),
    ...(options.gid !== undefined && { gid: options.gid }),
  });
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<number | string>((resolve) =>
    child.on("exit", (code, signal) => resolve(code ?? signal ?? "unknown")),
  );
  const closed = new Promise<void>((resolve) => child.on("close", () => resolve()));
  return { child, output: () => output, exited, closed };
}

/** Waits until the process logs that it serves, and returns the gRPC port it chose. */
export async function servingPort(server: ServerProcess, timeoutMs = 20_000): Promise<number> {
  const port = await waitForLog(server, timeoutMs, () => {
    const grpc = servingField(server.output(), "grpc")[0];
    return grpc === undefined ? undefined : Number(grpc.slice(grpc.lastIndexOf(":") + 1));
  });
  if (port === undefined) throw new Error(`server did not start:\n${server.output()}`);
  return port;
}

/** The pids of the workers that have logged "keyward serving" so far, in order. */
export function servingPids(server: ServerProcess): number[] {
  return servingField(server.output(), "pid").map(Number);
}

/** Waits until `count` workers in all have logged that they serve (a replacement counts too). */
export async function waitForServing(
  server: ServerProcess,
  count: number,
  timeoutMs = 30_000,
): Promise<number[]> {
  const pids = await waitForLog(server, timeoutMs, () => {
    const pids = servingPids(server);
    return pids.length >= count ? pids : undefined;
  });
  if (pids === undefined) throw new Error(`${count} workers did not start:\n${server.output()}`);
  return pids;
}

/**
 * Polls `found` until it returns a value; undefined once the process has exited (waiting longer would
 * not help) or the time is up, so that the caller's error can show the output.
 */
function waitForLog<T>(
  server: ServerProcess,
  timeoutMs: number,
  found: () => T | undefined,
): Promise<T | undefined> {
  return vi
    .waitFor(
      () => {
        const value = found();
        if (value !== undefined || exited(server)) return value;
        throw new Error("not yet");
      },
      { timeout: timeoutMs, interval: 50 },
    )
    .catch(() => undefined);
}

function exited(server: ServerProcess): boolean {
  return server.child.exitCode !== null || server.child.signalCode !== null;
}

/** Whether a process with this pid still exists. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The pids of a process's children, from /proc (Linux). */
export function childPids(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // The fourth field of /proc/PID/stat, after the parenthesised command name, is the parent pid.
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) children.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return children;
}

/**
 * SIGKILLs the process group of a server spawned with `processGroup`, and resolves once the
 * primary has exited and no process of the group is still running (their file locks are gone).
 * Killed workers may stay zombies when nothing reaps orphans; a zombie holds nothing, so it counts as gone.
 */
export async function killGroup(server: ServerProcess, timeoutMs = 10_000): Promise<void> {
  const pgid = server.child.pid;
  if (pgid === undefined) return;
  try {
    process.kill(-pgid, "SIGKILL");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
  }
  await server.exited;
  await vi.waitFor(
    () => {
      if (runningInGroup(pgid).length > 0)
        throw new Error(`processes of group ${pgid} still run after SIGKILL`);
    },
    { timeout: timeoutMs, interval: 20 },
  );
}

/** Pids of the processes of group `pgid` that are not zombies, from /proc/PID/stat. */
export function runningInGroup(pgid: number): number[] {
  const pids: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, "utf8");
    } catch {
      continue; // exited meanwhile
    }
    // "pid (comm) state ppid pgrp …": comm may hold spaces and parentheses, so split after the last ")".
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(pgrp) === pgid && state !== "Z") pids.push(Number(name));
  }
  return pids;
}

/**
 * How many established TCP connections to local `port` each of `pids` holds, from /proc (Linux): the
 * worker a connection was handed to is the process whose file descriptors include its socket.
 */
export function connectionsHeld(pids: readonly number[], port: number): Map<number, number> {
  const sockets = new Set<string>();
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let lines: string[];
    try {
      lines = readFileSync(table, "utf8").trim().split("\n").slice(1);
    } catch {
      continue; // no IPv6
    }
    for (const line of lines) {
      // "sl local_address rem_address st … inode": addresses are HEX_IP:HEX_PORT, state 01 is ESTABLISHED.
      const fields = line.trim().split(/\s+/);
      const localPort = Number.parseInt(fields[1]?.split(":")[1] ?? "", 16);
      if (localPort === port && fields[3] === "01") sockets.add(`socket:[${fields[9]}]`);
    }
  }
  const held = new Map<number, number>();
  for (const pid of pids) {
    let count = 0;
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        if (sockets.has(readlinkSync(`/proc/${pid}/fd/${fd}`))) count++;
      } catch {
        // closed meanwhile
      }
    }
    held.set(pid, count);
  }
  return held;
}

/**
 * SIGTERMs the process group of a server spawned with `processGroup` (as a terminal's Ctrl-C reaches npm
 * and the server alike) and resolves once all of them have exited and their output is read.
 */
export async function stopGroup(server: ServerProcess): Promise<void> {
  const pgid = server.child.pid;
  if (pgid !== undefined && !exited(server)) process.kill(-pgid, "SIGTERM");
  await server.closed;
}

/**
 * Sends SIGTERM (unless the process has exited already) and resolves with the exit code, or with
 * "timed out" when it has not exited within `timeoutMs`; the process is then left running, for the
 * caller's `finally` to kill (killGroup).
 */
export async function stopServer(server: ServerProcess, timeoutMs = 30_000): Promise<number | string> {
  if (!exited(server)) server.child.kill("SIGTERM");
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve("timed out"), timeoutMs);
  });
  try {
    return await Promise.race([server.exited, late]);
  } finally {
    clearTimeout(timer);
  }
}
