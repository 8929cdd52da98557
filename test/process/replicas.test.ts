import { execFile } from "node:child_process";
import { promisify } from "node:util";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Reason } from "../../src/gen/keyward/v1/key_pb.js";
import { grpcClients } from "../support/clients.js";
import { type ListenBlockingProxy, listenBlockingProxy } from "../support/listen-blocking-proxy.js";
import { servingField } from "../support/log-lines.js";
import { createTestSchema, TEST_POSTGRES_URL, type TestSchema } from "../support/postgres-server.js";
import { redisReachable, TEST_REDIS_URL } from "../support/redis-server.js";
import {
  killGroup,
  type ServerProcess,
  servingPort,
  spawnServer,
  stopServer,
  waitForServing,
} from "../support/spawn-server.js";

// Issue 14: two Keyward servers (separate processes, two workers each) on one PostgreSQL schema. A
// change made through one reaches the other's caches by NOTIFY/LISTEN (the primary listens and relays
// to its workers); while B's LISTEN connection is down, B trusts nothing cached longer than
// KEYWARD_STALE_BOUND. Runs in the postgres project only (vitest.config.ts, POSTGRES_ONLY).

const run = promisify(execFile);
type Clients = ReturnType<typeof grpcClients>;

const STALE_BOUND_MS = 1000;
// Rate limits hold across both replicas through Redis (skipped in one line when no Redis answers).
const redis = await redisReachable();
let schema: TestSchema;
/** B reaches PostgreSQL through it, so that a test can keep B's LISTEN connection down. */
let proxy: ListenBlockingProxy;
let b: ServerProcess;
/** B's HTTP listener, for /healthz. */
let bHttp: string;
let onA: Clients;
/** Several connections: node:cluster hands them to B's two workers in turn, so both caches are warm. */
let onB: Clients[];

/** Every server started, so that none outlives the file when a start-up fails half-way. */
const spawned: ServerProcess[] = [];

async function start(database: string): Promise<{ server: ServerProcess; address: string }> {
  const server = spawnServer(
    {
      KEYWARD_WORKERS: "2",
      KEYWARD_LISTEN: "127.0.0.1:0",
      KEYWARD_HTTP_LISTEN: "127.0.0.1:0",
      KEYWARD_DATABASE: database,
      KEYWARD_STALE_BOUND: `${STALE_BOUND_MS}ms`,
      ...(redis && { KEYWARD_REDIS_URL: TEST_REDIS_URL, KEYWARD_REPLICAS: "2" }),
    },
    { processGroup: true },
  );
  spawned.push(server); // stopped by afterAll even when it never comes up
  const port = await servingPort(server);
  await waitForServing(server, 2);
  return { server, address: `127.0.0.1:${port}` };
}

beforeAll(async () => {
  schema = await createTestSchema();
  proxy = await listenBlockingProxy(schema.url);
  const first = await start(schema.url); // migrates the schema
  const second = await start(proxy.url);
  b = second.server;
  bHttp = `http://${servingField(b.output(), "http")[0]}`;
  const { stdout } = await run(process.execPath, ["bin/keyward.js", "bootstrap", "--global"], {
    env: { ...process.env, KEYWARD_DATABASE: schema.url },
  });
  const admin = stdout.trim().split("\n").at(-1) as string;
  onA = grpcClients(first.address, admin);
  onB = Array.from({ length: 4 }, () => grpcClients(second.address, admin));
  await onA.workspaces.createWorkspace({ workspace: { workspaceId: "acme" } });
}, 90_000);

afterAll(async () => {
  for (const clients of [onA, ...(onB ?? [])]) clients?.close();
  for (const server of spawned) {
    if ((await stopServer(server, 15_000)) === "timed out") await killGroup(server);
  }
  await proxy?.close();
  await schema?.drop();
});

/** What B's /healthz says (one of its workers answers). */
async function healthOfB(): Promise<string> {
  const response = await fetch(`${bHttp}/healthz`);
  expect(response.status).toBe(200);
  return response.text();
}

/** What B's /readyz says, status and body (one of its workers answers; transport/readiness.ts). */
async function readinessOfB(): Promise<string> {
  const response = await fetch(`${bHttp}/readyz`);
  return `${response.status} ${await response.text()}`;
}

/** Waits (bounded) until B's output contains `text` `count` times. */
async function logged(text: string, count = 1): Promise<void> {
  for (let i = 0; i < 200 && b.output().split(text).length - 1 < count; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  expect(b.output().split(text).length - 1).toBeGreaterThanOrEqual(count);
}

const LOST = "lost the connection that hears other replicas' changes";
const BACK = "listening for other replicas' changes again";

/** Issues a key in acme on A and has every B connection (both workers) allow it, twice: it is cached there. */
async function cachedOnB(name: string) {
  const issued = await onA.keys.issueKey({ name, workspace: "acme" });
  for (let round = 0; round < 2; round++) {
    for (const { authorize } of onB) {
      expect((await authorize.authorize({ apiKey: issued.secret })).allowed).toBe(true);
    }
  }
  return { secret: issued.secret, keyId: issued.key?.keyId ?? "" };
}

/**
 * Asks every connection until each answers `reason`, and returns the milliseconds that took from
 * `since`. Bounded in time (timeoutMs) and so in count (one round of calls at a time).
 */
async function untilDenied(
  connections: readonly Clients[],
  secret: string,
  reason: Reason,
  since: number,
  timeoutMs: number,
): Promise<number> {
  const pending = new Set(connections);
  for (let round = 0; round < 10_000 && pending.size > 0; round++) {
    for (const connection of [...pending]) {
      const decision = await connection.authorize.authorize({ apiKey: secret });
      if (decision.reason === reason) pending.delete(connection);
    }
    const elapsed = performance.now() - since;
    if (pending.size === 0) return elapsed;
    if (elapsed > timeoutMs) break;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(
    `${pending.size} connection(s) still did not answer ${Reason[reason]} after ${timeoutMs} ms`,
  );
}

/** B's LISTEN connection: its primary's, named after its pid (cache/replica-listener.ts, listenerName). */
async function listenerPid(server: ServerProcess): Promise<number | undefined> {
  const client = new pg.Client({ connectionString: TEST_POSTGRES_URL });
  await client.connect();
  try {
    const { rows } = await client.query<{ pid: number }>(
      // Its last query is LISTEN or a ping (select 1): the name says whose it is.
      "select pid from pg_stat_activity where application_name = $1",
      [`keyward-listen-${server.child.pid}`],
    );
    return rows[0]?.pid;
  } finally {
    await client.end();
  }
}

async function terminate(backendPid: number): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_POSTGRES_URL });
  await client.connect();
  try {
    await client.query("select pg_terminate_backend($1)", [backendPid]);
  } finally {
    await client.end();
  }
}

describe("two replicas on one PostgreSQL database", () => {
  it("a revoke on A is enforced by every worker of B within 1 s", async () => {
    const key = await cachedOnB("revoked on A");
    await onA.keys.revokeKey({ keyId: key.keyId, reason: "leaked" });
    const delay = await untilDenied(onB, key.secret, Reason.KEY_REVOKED, performance.now(), 1000);
    console.log(`replicas: revoke on A denied by both workers of B ${delay.toFixed(1)} ms after it returned`);
    expect(delay).toBeLessThan(1000);
  });

  it.skipIf(!redis)(
    "a free-tier key gets 10 calls a minute in total over both replicas and their 4 workers",
    async () => {
      const issued = await onA.keys.issueKey({ name: "free over two", workspace: "acme", tier: "free" });
      const everyone = [onA, ...onB, onA, ...onB];
      const answers = [];
      for (let i = 0; i < 30; i++) {
        const { authorize } = everyone[i % everyone.length] as Clients;
        answers.push(await authorize.authorize({ apiKey: issued.secret }));
      }
      expect(answers.filter((decision) => decision.allowed)).toHaveLength(10);
      const denied = answers.filter((decision) => !decision.allowed);
      expect(denied.every((decision) => decision.reason === Reason.RATE_LIMITED)).toBe(true);
      // Both replicas refused some: the limit is the key's, not each replica's.
      const onAOnly = answers.filter((_, i) => everyone[i % everyone.length] === onA);
      expect(onAOnly.some((decision) => !decision.allowed)).toBe(true);
      expect(answers.filter((_, i) => everyone[i % everyone.length] !== onA).some((d) => !d.allowed)).toBe(
        true,
      );
      expect(await healthOfB()).not.toContain("rate_limits");
    },
  );

  it("usage counted on both replicas adds up in the store: a key with a quota (the book) and one without", async () => {
    const counted = await onA.keys.issueKey({ name: "quota", workspace: "acme", monthlyQuota: 1000n });
    const tallied = await onA.keys.issueKey({ name: "plain", workspace: "acme" });
    for (const issued of [counted, tallied]) {
      for (let i = 0; i < 7; i++)
        expect((await onA.authorize.authorize({ apiKey: issued.secret })).allowed).toBe(true);
      for (let i = 0; i < 10; i++) {
        const { authorize } = onB[i % onB.length] as Clients;
        expect((await authorize.authorize({ apiKey: issued.secret })).allowed).toBe(true);
      }
    }
    // Each process flushes every KEYWARD_USAGE_FLUSH (1 s): wait, bounded, until the store has them all.
    for (const issued of [counted, tallied]) {
      const keyId = issued.key?.keyId ?? "";
      let usage = (await onA.keys.getKey({ keyId })).key?.usage;
      for (let i = 0; i < 100 && usage?.requestsToday !== 17n; i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        usage = (await onA.keys.getKey({ keyId })).key?.usage;
      }
      expect(usage?.requestsToday).toBe(17n);
      expect(usage?.requestsThisMonth).toBe(17n);
    }
  });

  it("a workspace suspended on B is enforced by A within 1 s", async () => {
    const key = await cachedOnB("suspended on B");
    for (let i = 0; i < 4; i++)
      expect((await onA.authorize.authorize({ apiKey: key.secret })).allowed).toBe(true);
    await (onB[0] as Clients).workspaces.suspendWorkspace({ workspaceId: "acme", reason: "unpaid" });
    const onAs = [onA, ...Array.from({ length: 3 }, () => onA)];
    const delay = await untilDenied(onAs, key.secret, Reason.WORKSPACE_SUSPENDED, performance.now(), 1000);
    console.log(`replicas: workspace suspended on B denied by A ${delay.toFixed(1)} ms after it returned`);
    expect(delay).toBeLessThan(1000);
    await (onB[0] as Clients).workspaces.resumeWorkspace({ workspaceId: "acme" });
  });

  it("with B's LISTEN connection terminated, a revoke on A is enforced by B within KEYWARD_STALE_BOUND", async () => {
    // Resumed on B just before: wait until A allows acme's keys again before caching one on B.
    const key = await cachedOnB("revoked while B is deaf").catch(async () => {
      await new Promise((resolve) => setTimeout(resolve, 500));
      return cachedOnB("revoked while B is deaf, second try");
    });
    const backend = await listenerPid(b);
    expect(backend).toBeDefined();
    await terminate(backend as number);
    const terminated = performance.now();
    await onA.keys.revokeKey({ keyId: key.keyId, reason: "leaked" });
    const delay = await untilDenied(onB, key.secret, Reason.KEY_REVOKED, terminated, 3000);
    console.log(
      `replicas: with B's LISTEN connection terminated, revoke on A denied by B ${delay.toFixed(1)} ms after the termination (bound ${STALE_BOUND_MS} ms)`,
    );
    expect(delay).toBeLessThan(3000);
    // B said so, and listened again (a new backend), which emptied its caches.
    await logged(LOST);
    await logged(BACK);
    const again = await listenerPid(b);
    expect(again).toBeDefined();
    expect(again).not.toBe(backend);
  });

  it("while B cannot listen again, B trusts a cached key for KEYWARD_STALE_BOUND at most, and /healthz and /readyz say so", async () => {
    const key = await cachedOnB("revoked while B cannot listen");
    const cachedAt = performance.now();
    proxy.blocking = true; // B's reconnections are refused; its pool still reaches the database
    try {
      await terminate((await listenerPid(b)) as number);
      await logged(LOST, 2);
      await onA.keys.revokeKey({ keyId: key.keyId, reason: "leaked" });
      // Within the bound B may still answer from its cache: the notice is lost, nothing evicts it.
      const staleRightAfter = (await (onB[0] as Clients).authorize.authorize({ apiKey: key.secret })).allowed;
      const delay = await untilDenied(onB, key.secret, Reason.KEY_REVOKED, cachedAt, 3000);
      console.log(
        `replicas: with B unable to listen, revoke on A denied by B ${delay.toFixed(1)} ms after B cached the key (bound ${STALE_BOUND_MS} ms; still allowed right after the revoke: ${staleRightAfter})`,
      );
      expect(delay).toBeLessThan(STALE_BOUND_MS + 2000);
      expect(await healthOfB()).toBe("SERVING\ninvalidation: degraded\n");
      // Not ready, from whichever worker answers: each heard its primary's `distrust`.
      for (let i = 0; i < 4; i++) expect(await readinessOfB()).toBe("503 invalidation: degraded\n");
      expect(b.output().split(BACK).length - 1).toBe(1); // the denial came from the bound, not a reconnection
    } finally {
      proxy.blocking = false;
    }
    // Backoff at most 5 s: then B listens, empties its caches and trusts them again.
    await logged(BACK, 2);
    let health = await healthOfB();
    for (let i = 0; i < 40 && health !== "SERVING\n"; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      health = await healthOfB();
    }
    expect(health).toBe("SERVING\n");
    // The other worker may hear `trust` a moment later: ask again, bounded.
    let readiness = await readinessOfB();
    for (let i = 0; i < 20 && readiness !== "200 ready\n"; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      readiness = await readinessOfB();
    }
    expect(readiness).toBe("200 ready\n");
  });
});
