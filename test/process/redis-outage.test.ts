import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, expect, it } from "vitest";
import { Reason } from "../../src/gen/keyward/v1/key_pb.js";
import { grpcClients } from "../support/clients.js";
import { type RedisProcess, startRedisProcess } from "../support/redis-process.js";
import { redisReachable } from "../support/redis-server.js";
import {
  type ServerProcess,
  servingPort,
  spawnServer,
  stopServer,
  waitForServing,
} from "../support/spawn-server.js";

// Issue 14: with KEYWARD_REDIS_URL, a key's rate limit is global; while Redis cannot be reached, each
// replica enforces limit ÷ KEYWARD_REPLICAS on its own, says so once in its log and in /healthz on every
// worker, and goes back to the global limit once Redis answers again. A redis-server of the test's own
// is killed and restarted under a real server with two workers.

const run = promisify(execFile);
const reachable = await redisReachable(); // redis-server is the machine's: skipped with the same one line
type Clients = ReturnType<typeof grpcClients>;

let dir: string;
let redis: RedisProcess;
let server: ServerProcess;
let http: string;
let clients: Clients[];

beforeAll(async () => {
  if (!reachable) return;
  dir = mkdtempSync(join(tmpdir(), "keyward-redis-outage-"));
  redis = await startRedisProcess();
  const database = `sqlite:${join(dir, "keyward.db")}`;
  server = spawnServer({
    KEYWARD_WORKERS: "2",
    KEYWARD_LISTEN: "127.0.0.1:0",
    KEYWARD_HTTP_LISTEN: "127.0.0.1:0",
    KEYWARD_DATABASE: database,
    KEYWARD_REDIS_URL: redis.url,
    KEYWARD_REPLICAS: "2",
  });
  const port = await servingPort(server);
  await waitForServing(server, 2);
  http = `http://${/"msg":"keyward serving".*?"http":"([^"]+)"/.exec(server.output())?.[1]}`;
  const { stdout } = await run(process.execPath, ["bin/keyward.js", "bootstrap", "--global"], {
    env: { ...process.env, KEYWARD_DATABASE: database },
  });
  const admin = stdout.trim().split("\n").at(-1) as string;
  clients = Array.from({ length: 4 }, () => grpcClients(`127.0.0.1:${port}`, admin));
  await clients[0]?.workspaces.createWorkspace({ workspace: { workspaceId: "acme" } });
}, 90_000);

afterAll(async () => {
  for (const client of clients ?? []) client.close();
  if (server) await stopServer(server, 15_000);
  await redis?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Calls spread over every connection (both workers); how many of `calls` a new free-tier key gets. */
async function allowedOfFreshFreeKey(calls: number): Promise<number> {
  const issued = await clients[0]?.keys.issueKey({ name: "free", workspace: "acme", tier: "free" });
  let allowed = 0;
  for (let i = 0; i < calls; i++) {
    const decision = await clients[i % clients.length]?.authorize.authorize({ apiKey: issued?.secret ?? "" });
    if (decision?.allowed) allowed++;
    else expect(decision?.reason).toBe(Reason.RATE_LIMITED);
  }
  return allowed;
}

/** What /healthz says on several calls (so both workers answer: node:cluster spreads connections). */
async function health(): Promise<string[]> {
  const answers = [];
  for (let i = 0; i < 6; i++) {
    const response = await fetch(`${http}/healthz`, { headers: { connection: "close" } });
    answers.push(await response.text());
  }
  return answers;
}

/** Waits (bounded: 10 s) until every /healthz answer satisfies `ok`. */
async function healthUntil(ok: (answer: string) => boolean): Promise<string[]> {
  let answers = await health();
  for (let i = 0; i < 100 && !answers.every(ok); i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    answers = await health();
  }
  return answers;
}

const LOCAL = "rate limits are local: Redis cannot be reached";
const GLOBAL = "rate limits are global again: Redis answers";

it.skipIf(!reachable)(
  "falls back to limit ÷ KEYWARD_REPLICAS while Redis is down, and back to the global limit after",
  {
    timeout: 120_000,
  },
  async () => {
    expect(await allowedOfFreshFreeKey(15)).toBe(10);
    expect((await health()).every((answer) => !answer.includes("rate_limits"))).toBe(true);

    await redis.stop();
    const down = await healthUntil((answer) => answer.includes("rate_limits: local"));
    expect(down.every((answer) => answer === "SERVING\nrate_limits: local\n")).toBe(true);
    expect(server.output().split(LOCAL)).toHaveLength(2); // said once
    // Each replica's share: 10 ÷ 2 = 5 on this one.
    expect(await allowedOfFreshFreeKey(15)).toBe(5);

    await redis.start();
    const up = await healthUntil((answer) => !answer.includes("rate_limits"));
    expect(up.every((answer) => answer === "SERVING\n")).toBe(true);
    expect(server.output()).toContain(GLOBAL);
    expect(await allowedOfFreshFreeKey(15)).toBe(10);
  },
);
