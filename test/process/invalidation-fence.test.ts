import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Reason } from "../../src/gen/keyward/v1/key_pb.js";
import { grpcClients } from "../support/clients.js";
import {
  isAlive,
  type ServerProcess,
  servingPort,
  spawnServer,
  waitForServing,
} from "../support/spawn-server.js";

// A change is acknowledged only once every worker that could answer from its cache has evicted, or
// has been fenced (killed) by the primary. A worker is stalled here with SIGSTOP: the harshest stall,
// since a stopped process reads neither its sockets nor the primary's messages.

const run = promisify(execFile);
let dir: string;
let server: ServerProcess | undefined;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "keyward-fence-"));
});

afterEach(() => {
  if (server?.child.exitCode === null) server.child.kill("SIGKILL");
  for (const pid of stopped) if (isAlive(pid)) process.kill(pid, "SIGKILL");
  stopped.length = 0;
  rmSync(dir, { recursive: true, force: true });
});

const stopped: number[] = [];

// grpcClients opens one HTTP/2 connection per call: node:cluster hands new connections to the workers in turn.
type Connection = ReturnType<typeof grpcClients>;

async function start() {
  const database = `sqlite:${join(dir, "keyward.db")}`;
  server = spawnServer({
    KEYWARD_WORKERS: "2",
    KEYWARD_LISTEN: "127.0.0.1:0",
    KEYWARD_HTTP_LISTEN: "off",
    KEYWARD_DATABASE: database,
  });
  const port = await servingPort(server);
  const pids = await waitForServing(server, 2);
  const { stdout } = await run(process.execPath, ["bin/keyward.js", "bootstrap"], {
    env: { ...process.env, KEYWARD_DATABASE: database },
  });
  const admin = stdout.trim().split("\n").at(-1) as string;
  const connections = Array.from({ length: 8 }, () => grpcClients(`127.0.0.1:${port}`, admin));
  return { running: server, pids, connections };
}

/** Issues a key and has every connection's worker cache it (an allowed answer on each). */
async function cachedKey(connections: Connection[]) {
  const [first] = connections as [Connection];
  const issued = await first.keys.issueKey({ name: "fenced", scopes: ["models:read"] });
  for (const { authorize } of connections) {
    expect((await authorize.authorize({ apiKey: issued.secret })).allowed).toBe(true);
  }
  return { secret: issued.secret, keyId: issued.key?.keyId ?? "" };
}

/**
 * Starts two workers, caches a key in both, stops one with SIGSTOP, and sorts the connections by
 * whether their worker still answers.
 */
async function stallOneWorker() {
  const { running, pids, connections } = await start();
  const key = await cachedKey(connections);
  const victim = pids[0] as number;
  process.kill(victim, "SIGSTOP");
  stopped.push(victim);
  return { running, connections, key, victim, ...(await split(connections, key.secret)) };
}

/** Sorts the connections by whether their worker answers while `pid` is stopped. */
async function split(connections: Connection[], secret: string) {
  const pending = connections.map((c) => ({ c, call: c.authorize.authorize({ apiKey: secret }) }));
  const answered = await Promise.all(
    pending.map(({ call }) =>
      Promise.race([
        call.then(() => true),
        new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 1000)),
      ]),
    ),
  );
  const live = pending.filter((_, i) => answered[i]).map(({ c }) => c);
  const stalled = pending.filter((_, i) => !answered[i]);
  return { live, stalled };
}

describe("a worker that cannot confirm an eviction", () => {
  it("is fenced before a revoke returns: it never answers 'allowed' afterwards", async () => {
    const { running, connections, key, victim, live, stalled } = await stallOneWorker();
    expect(live.length).toBeGreaterThan(0);
    expect(stalled.length).toBeGreaterThan(0);

    // Calls queued at the stopped worker: whatever they get, it must not be "allowed" after the revoke.
    let revokeReturned = false;
    const lateAllowed: string[] = [];
    const queued = stalled.map(({ call }) =>
      call.then(
        (decision) => {
          if (revokeReturned && decision.allowed) lateAllowed.push("queued call");
        },
        () => undefined, // its connection was cut when the worker was killed
      ),
    );

    await (live[0] as Connection).keys.revokeKey({ keyId: key.keyId });
    revokeReturned = true;
    // The stopped worker could not have evicted: the only acceptable state is gone.
    expect(isAlive(victim)).toBe(false);
    expect(running.output()).toContain("did not confirm a cache invalidation in time; replacing them");

    await Promise.all(queued);
    for (const { authorize } of connections) {
      const decision = await authorize.authorize({ apiKey: key.secret });
      expect(decision.reason).toBe(Reason.KEY_REVOKED);
    }
    expect(lateAllowed).toEqual([]);
    // The primary replaced the fenced worker, and it serves the revoke too.
    await waitForServing(running, 3);
    const address = `127.0.0.1:${await servingPort(running)}`;
    const fresh = Array.from({ length: 4 }, () => grpcClients(address));
    for (const { authorize } of fresh) {
      expect((await authorize.authorize({ apiKey: key.secret })).reason).toBe(Reason.KEY_REVOKED);
    }

    running.child.kill("SIGTERM");
    expect(await running.exited).toBe(0);
  });

  it("holds the revoke until a worker stalled briefly has evicted, without replacing it", async () => {
    const { running, connections, key, victim, live, stalled } = await stallOneWorker();
    expect(stalled.length).toBeGreaterThan(0);

    let resumed = false;
    const revoked = (live[0] as Connection).keys.revokeKey({ keyId: key.keyId }).then(() => resumed);
    await new Promise((resolve) => setTimeout(resolve, 300));
    resumed = true;
    process.kill(victim, "SIGCONT");
    // The revoke returned only after the stalled worker was running again (and so had evicted).
    expect(await revoked).toBe(true);
    expect(isAlive(victim)).toBe(true);
    expect(running.output()).not.toContain("did not confirm");

    await Promise.all(stalled.map(({ call }) => call.catch(() => undefined)));
    for (const { authorize } of connections) {
      expect((await authorize.authorize({ apiKey: key.secret })).reason).toBe(Reason.KEY_REVOKED);
    }
    running.child.kill("SIGTERM");
    expect(await running.exited).toBe(0);
  });
});
