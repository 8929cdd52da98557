import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

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
}

/** Starts Keyward as `npm start` does, in a child process with the given environment. */
export function spawnServer(
  env: Record<string, string>,
  as: { readonly uid?: number; readonly gid?: number } = {},
): ServerProcess {
  const { command, args } = startCommand();
  // One worker unless a test asks for more: `npm start` would use one per CPU.
  const child = spawn(command, args, {
    env: { ...process.env, KEYWARD_WORKERS: "1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
    ...as,
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
  return { child, output: () => output, exited };
}

/** Waits until the process logs that it serves, and returns the gRPC port it chose. */
export async function servingPort(server: ServerProcess, timeoutMs = 20_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const match = /"msg":"keyward serving","grpc":"[^"]*:(\d+)"/.exec(server.output());
    if (match) return Number(match[1]);
    if (server.child.exitCode !== null) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`server did not start:\n${server.output()}`);
}

/** The pids of the workers that have logged "keyward serving" so far, in order. */
export function servingPids(server: ServerProcess): number[] {
  return [...server.output().matchAll(/"msg":"keyward serving".*?"pid":(\d+)/g)].map((m) => Number(m[1]));
}

/** Waits until `count` workers in all have logged that they serve (a replacement counts too). */
export async function waitForServing(
  server: ServerProcess,
  count: number,
  timeoutMs = 30_000,
): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const pids = servingPids(server);
    if (pids.length >= count) return pids;
    if (server.child.exitCode !== null) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${count} workers did not start:\n${server.output()}`);
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
