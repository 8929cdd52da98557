import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { servingField } from "./log-lines.js";
import {
  killGroup,
  type ServerProcess,
  servingPort,
  spawnServer,
  stopServer,
  waitForServing,
} from "./spawn-server.js";

/**
 * Keyward in its own process (one worker unless KEYWARD_WORKERS says otherwise, in a process group of
 * its own), on an SQLite file of its own, with an admin key: for tests of the process itself (memory,
 * signals, several workers).
 */
export interface SpawnedKeyward {
  readonly process: ServerProcess;
  /** KEYWARD_DATABASE of the server. */
  readonly database: string;
  readonly grpcAddress: string;
  readonly httpUrl: string;
  /** An admin key of workspace "default", made as `keyward bootstrap` makes it. */
  readonly admin: string;
  /** Resident and peak resident memory of the server process (Linux /proc), in bytes. */
  memory(): { rss: number; peak: number };
  stop(): Promise<void>;
}

const run = promisify(execFile);

export async function spawnKeyward(env: Record<string, string> = {}): Promise<SpawnedKeyward> {
  const dir = mkdtempSync(join(tmpdir(), "keyward-spawned-"));
  const database = `sqlite:${join(dir, "keyward.db")}`;
  const server = spawnServer(
    {
      KEYWARD_LISTEN: "127.0.0.1:0",
      KEYWARD_HTTP_LISTEN: "127.0.0.1:0",
      KEYWARD_DATABASE: database,
      ...env,
    },
    { processGroup: true },
  );
  const grpcPort = await servingPort(server);
  // Every worker serving, so that connections made next are spread over all of them.
  await waitForServing(server, Number(env.KEYWARD_WORKERS ?? "1"));
  const http = servingField(server.output(), "http")[0] ?? "";
  const httpPort = http.slice(http.lastIndexOf(":") + 1);
  const bootstrapped = await run(process.execPath, ["bin/keyward.js", "bootstrap"], {
    env: { ...process.env, KEYWARD_DATABASE: database },
  });
  const pid = server.child.pid as number;
  return {
    process: server,
    database,
    grpcAddress: `127.0.0.1:${grpcPort}`,
    httpUrl: `http://127.0.0.1:${httpPort}`,
    admin: bootstrapped.stdout.trim().split("\n").at(-1) as string,
    memory() {
      const status = readFileSync(`/proc/${pid}/status`, "utf8");
      const kib = (field: string) =>
        Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1]) * 1024;
      return { rss: kib("VmRSS"), peak: kib("VmHWM") };
    },
    async stop() {
      if ((await stopServer(server, 15_000)) === "timed out") await killGroup(server);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
