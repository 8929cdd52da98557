import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { Reason } from "../../src/gen/keyward/v1/key_pb.js";
import { grpcClients } from "../support/clients.js";
import { seedDatabase } from "../support/databases.js";
import { makeKey } from "../support/fixtures.js";
import { connectionsHeld, servingPort, spawnServer, waitForServing } from "../support/spawn-server.js";

// Issue 12: a rate limit holds for the key as a whole, not per worker. With KEYWARD_WORKERS=2 and the
// calls spread over both workers, a free-tier key gets exactly 10 calls a minute in total; budgets
// kept per worker would let up to 20 through (the test checks that both workers took calls).

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "keyward-rate-workers-"));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

it("lets exactly 10 of 40 calls on a free-tier key through, over 8 connections to 2 workers", {
  timeout: 180_000,
}, async () => {
  const database = `sqlite:${join(dir, "keyward.db")}`;
  // The key is stored before the server starts: no change (and so no cross-worker eviction) happens
  // during the test, which measures the limit alone.
  const { key, secret } = makeKey({ tier: "free", now: Date.now() });
  await seedDatabase(database, { keys: [key] });
  const server = spawnServer({
    KEYWARD_WORKERS: "2",
    KEYWARD_LISTEN: "127.0.0.1:0",
    KEYWARD_HTTP_LISTEN: "off",
    KEYWARD_DATABASE: database,
  });
  const clients: ReturnType<typeof grpcClients>[] = [];
  try {
    const port = await servingPort(server);
    const workers = await waitForServing(server, 2);
    const address = `127.0.0.1:${port}`;
    for (let i = 0; i < 8; i++) clients.push(grpcClients(address));
    const callers = clients;
    // Every connection answers once before the burst, so that each is open and held by a worker.
    for (const client of callers)
      expect((await client.authorize.authorize({ apiKey: "" })).allowed).toBe(false);
    const held = connectionsHeld(workers, port);
    for (const pid of workers) expect(held.get(pid), `connections held by worker ${pid}`).toBeGreaterThan(0);

    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, i) => callers[i % 8]?.authorize.authorize({ apiKey: secret })),
    );
    const reasons = answers.map((answer) => answer?.reason);
    expect(reasons.filter((reason) => reason === Reason.ALLOWED)).toHaveLength(10);
    expect(reasons.filter((reason) => reason === Reason.RATE_LIMITED)).toHaveLength(30);
  } finally {
    for (const client of clients) client.close();
    if (server.child.exitCode === null) server.child.kill("SIGTERM");
    expect(await server.exited).toBe(0);
  }
});
