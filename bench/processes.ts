import { type ChildProcess, spawn } from "node:child_process";
import { openSync, readdirSync, readFileSync } from "node:fs";
import net from "node:net";

/** A server process pinned to a set of CPUs, with its CPU time readable from /proc. */
export interface PinnedServer {
  readonly name: string;
  readonly pid: number;
  readonly address: string;
  /** The CPUs it may run on, as `taskset -c` takes them (e.g. "0" or "0,1"). */
  readonly cpus: string;
  /** utime + stime of the process and all its descendants, in clock ticks (see CLOCK_TICK_US). */
  cpuTicks(): number;
  /** SIGTERM, then SIGKILL after timeoutMs; resolves when it has exited. */
  stop(timeoutMs?: number): Promise<void>;
}

/** Linux reports CPU time in ticks of 1/100 s (USER_HZ) on every architecture Node runs on. */
export const CLOCK_TICK_US = 10_000;

/** A TCP port free right now on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts `taskset -c <cpus> <command…>` (taskset execs the command, so the pid is the
 * server's), its output into logFile, and waits until 127.0.0.1:port accepts connections
 * and, with `ready`, until the log says so.
 */
export async function startPinned(options: {
  readonly name: string;
  /** A CPU list as `taskset -c` takes it, e.g. "0" or "0,1". */
  readonly cpus: string;
  readonly command: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly port: number;
  readonly logFile: string;
  /** Also wait until this holds for the log (e.g. every cluster worker has said it is serving). */
  readonly ready?: (log: string) => boolean;
  readonly timeoutMs?: number;
}): Promise<PinnedServer> {
  const log = openSync(options.logFile, "a");
  const child = spawn("taskset", ["-c", options.cpus, ...options.command], {
    env: { ...process.env, ...options.env },
    stdio: ["ignore", log, log],
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const address = `127.0.0.1:${options.port}`;
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  const ready = async () =>
    (await accepts(options.port)) && (options.ready?.(readFileSync(options.logFile, "utf8")) ?? true);
  while (!(await ready())) {
    if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
      child.kill("SIGKILL");
      const tail = readFileSync(options.logFile, "utf8").slice(-2000);
      throw new Error(`${options.name} did not start on ${address}:\n${tail}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const pid = child.pid as number;
  return {
    name: options.name,
    pid,
    address,
    cpus: options.cpus,
    cpuTicks: () => treeTicks(pid),
    stop: (timeoutMs = 15_000) => stopChild(child, exited, timeoutMs),
  };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

async function stopChild(child: ChildProcess, exited: Promise<void>, timeoutMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  await exited;
  clearTimeout(timer);
}

/** utime + stime (fields 14 and 15 of /proc/PID/stat) summed over a process and its descendants. */
export function treeTicks(root: number): number {
  return sumOverTree(root, (pid) => readStat(pid)?.ticks ?? 0);
}

/** utime + stime of each child of a process (with its own descendants), by pid: a cluster's workers. */
export function childTicks(parent: number): Map<number, number> {
  const children = new Map<number, number>();
  for (const [pid, stat] of processStats()) if (stat.ppid === parent) children.set(pid, treeTicks(pid));
  return children;
}

/** The pids of a process's children: a cluster primary's workers. */
export function childPids(parent: number): number[] {
  return [...processStats()].filter(([, stat]) => stat.ppid === parent).map(([pid]) => pid);
}

/** The command name of a process (/proc/PID/comm), e.g. "node" or "esbuild"; undefined once it is gone. */
export function processName(pid: number): string | undefined {
  return readProc(pid, "comm")?.trim();
}

/** Resident set size (VmRSS of /proc/PID/status) in bytes; undefined once the process is gone. */
export function residentBytes(pid: number): number | undefined {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readProc(pid, "status") ?? "");
  return match ? Number(match[1]) * 1024 : undefined;
}

/**
 * Busy time of a set of CPUs ("0", "0,1", "0-1"), summed: user, nice, system, irq and softirq
 * from /proc/stat, in clock ticks.
 */
export function cpuBusyTicks(cpus: string): number {
  const stat = readFileSync("/proc/stat", "utf8");
  let total = 0;
  for (const cpu of cpuList(cpus)) {
    const line = new RegExp(`^cpu${cpu} (.*)$`, "m").exec(stat)?.[1];
    const [user, nice, system, , , irq, softirq] = (line ?? "").split(" ").map(Number);
    total += (user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0);
  }
  return total;
}

/** The CPUs of a list as `taskset -c` takes it: "0", "0,1", "0-1". */
export function cpuList(cpus: string): number[] {
  return cpus.split(",").flatMap((part) => {
    const [from, to = from] = part.split("-").map(Number);
    return Array.from({ length: (to as number) - (from as number) + 1 }, (_, i) => (from as number) + i);
  });
}

/** Read system calls (`syscr` of /proc/PID/io: socket and file reads alike) of a process tree. */
export function readSyscalls(root: number): number {
  return sumOverTree(root, (pid) => {
    const match = /^syscr: (\d+)$/m.exec(readProc(pid, "io") ?? "");
    return match ? Number(match[1]) : 0;
  });
}

/** Every process's /proc stat, by pid. */
function processStats(): Map<number, { ppid: number; ticks: number }> {
  const stats = new Map<number, { ppid: number; ticks: number }>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(Number(entry));
    if (stat !== undefined) stats.set(Number(entry), stat);
  }
  return stats;
}

function sumOverTree(root: number, value: (pid: number) => number): number {
  const parents = new Map<number, number>();
  for (const [pid, stat] of processStats()) parents.set(pid, stat.ppid);
  let total = 0;
  const pending = [root];
  while (pending.length > 0) {
    const pid = pending.pop() as number;
    total += value(pid);
    for (const [child, parent] of parents) if (parent === pid) pending.push(child);
  }
  return total;
}

function readProc(pid: number, file: string): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/${file}`, "utf8");
  } catch {
    return undefined; // exited meanwhile
  }
}

function readStat(pid: number): { ppid: number; ticks: number } | undefined {
  const text = readProc(pid, "stat");
  if (text === undefined) return undefined;
  // The command name (field 2) is in parentheses and may contain spaces: split after the last ')'.
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
  return { ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) };
}
