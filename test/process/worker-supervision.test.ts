import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  childPids,
  isAlive,
  type ServerProcess,
  type SpawnOptions,
  servingPids,
  spawnServer,
  waitForServing,
} from "../support/spawn-server.js";

// Start-up failures end the server with one line and the right exit code, in one process and with
// workers alike, and leave no process behind; a worker that dies after serving is replaced, and a
// crash loop stops the server.

let dir: string;
let blocker: Server | undefined;
const spawned: ServerProcess[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "keyward-supervision-"));
  chmodSync(dir, 0o777); // the unwritable-database case runs as another user
});

afterEach(async () => {
  for (const server of spawned.splice(0)) if (server.child.exitCode === null) server.child.kill("SIGKILL");
  await new Promise((resolve) => (blocker ? blocker.close(resolve) : resolve(undefined)));
  blocker = undefined;
  rmSync(dir, { recursive: true, force: true });
});

function start(env: Record<string, string>, as: SpawnOptions = {}) {
  const server = spawnServer(
    {
      KEYWARD_LISTEN: "127.0.0.1:0",
      KEYWARD_HTTP_LISTEN: "off",
      KEYWARD_DATABASE: `sqlite:${join(dir, "k.db")}`,
      ...env,
    },
    as,
  );
  spawned.push(server);
  return server;
}

/** Waits for the exit while noting every child (worker) the process had; returns code and children. */
async function exitOf(server: ServerProcess): Promise<{ code: number | string; children: number[] }> {
  const pid = server.child.pid as number;
  const children = new Set<number>();
  const watching = setInterval(() => {
    for (const child of childPids(pid)) children.add(child);
  }, 20);
  const code = await server.exited;
  clearInterval(watching);
  return { code, children: [...children] };
}

/** The lines the operator reads (`keyward: …`), apart from the JSON log. */
function plainLines(server: ServerProcess): string[] {
  return server
    .output()
    .split("\n")
    .filter((line) => line !== "" && !line.startsWith("{"));
}

async function expectOneLineExit(server: ServerProcess, exitCode: number, pattern: RegExp) {
  const { code, children } = await exitOf(server);
  expect(code).toBe(exitCode);
  const lines = plainLines(server);
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(server.output()).not.toMatch(/^\s+at /m); // no stack trace
  // Workers exit with the primary, a moment after it.
  await expect
    .poll(() => children.filter(isAlive), { message: "children still alive", timeout: 15_000, interval: 50 })
    .toEqual([]);
}

async function busyPort(): Promise<number> {
  blocker = createServer();
  await new Promise<void>((resolve) => blocker?.listen(0, "127.0.0.1", resolve));
  const address = blocker.address();
  return typeof address === "object" && address !== null ? address.port : 0;
}

describe.each(["1", "2"])("start-up failures with KEYWARD_WORKERS=%s", (workers) => {
  it("a port in use stops the server with one line and exit 1", async () => {
    const port = await busyPort();
    const server = start({ KEYWARD_WORKERS: workers, KEYWARD_HTTP_LISTEN: `127.0.0.1:${port}` });
    await expectOneLineExit(server, 1, new RegExp(`^keyward: start-up failed: .*EADDRINUSE.*${port}`));
  });

  it("a broken route policy file stops the server with one line and exit 2", async () => {
    const policy = join(dir, "policy.yaml");
    writeFileSync(policy, "rules: [\n");
    const server = start({ KEYWARD_WORKERS: workers, KEYWARD_POLICY: policy });
    await expectOneLineExit(server, 2, /^keyward: KEYWARD_POLICY: /);
  });

  it("a database path that is a directory, or not a database, is named in one line", async () => {
    const folder = join(dir, "folder.db");
    mkdirSync(folder);
    const notDatabase = join(dir, "garbage.db");
    writeFileSync(notDatabase, Buffer.alloc(8192, 7));
    for (const path of [folder, notDatabase]) {
      const server = start({ KEYWARD_WORKERS: workers, KEYWARD_DATABASE: `sqlite:${path}` });
      await expectOneLineExit(server, 1, new RegExp(`^keyward: start-up failed: database ${path}: `));
    }
  });

  it("a database that cannot be written is found at start-up", async () => {
    const path = join(dir, "readonly.db");
    new Database(path).close();
    // As root, file modes do not stop writes: run the server as an unprivileged user instead.
    const asRoot = process.getuid?.() === 0;
    chmodSync(path, asRoot ? 0o644 : 0o444);
    const server = start(
      { KEYWARD_WORKERS: workers, KEYWARD_DATABASE: `sqlite:${path}`, TMPDIR: dir },
      asRoot ? { uid: 65534, gid: 65534 } : {},
    );
    await expectOneLineExit(server, 1, new RegExp(`^keyward: start-up failed: database ${path}: .*readonly`));
  });
});

describe("a worker that dies after serving", () => {
  it("is replaced, and five deaths within a minute stop the server with one line", async () => {
    const server = start({ KEYWARD_WORKERS: "2" });
    const killed = new Set<number>();
    for (let deaths = 1; deaths <= 5; deaths++) {
      // Kill the newest worker that serves; the primary replaces it (after a backoff) until the limit.
      const pids = deaths <= 2 ? await waitForServing(server, 2) : await waitForServing(server, deaths);
      const victim = pids.find((pid) => !killed.has(pid)) as number;
      killed.add(victim);
      process.kill(victim, "SIGKILL");
      if (deaths < 5) expect(server.output()).not.toContain("stopping");
    }
    await expectOneLineExit(server, 1, /^keyward: workers died 5 times within 60s; stopping$/);
    expect(servingPids(server).length).toBeGreaterThanOrEqual(5); // three replacements served
    expect(server.output()).toContain('"msg":"worker died; starting another"');
  });
});
