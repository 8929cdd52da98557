import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { Reason } from "../../src/gen/keyward/v1/key_pb.js";
import { readUsage } from "../../src/store/usage-queries.js";
import { type GrpcClients, grpcClients } from "../support/clients.js";
import { openMigrated, seedDatabase } from "../support/databases.js";
import { makeKey } from "../support/fixtures.js";
import {
  connectionsHeld,
  killGroup,
  servingPort,
  spawnServer,
  stopServer,
  waitForServing,
} from "../support/spawn-server.js";

// Issue 12, leases (domain/limit-lease.ts): a key far below its quota gets slices of it leased to the
// workers, taken from the primary's book when granted. SIGTERM must give every unspent unit back before
// the primary's last flush, or the store would count the leased units as used. KEYWARD_USAGE_FLUSH is
// an hour: what the store holds afterwards came from the flush at SIGTERM alone.

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "keyward-leases-"));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

it("stores exactly the quota and credits spent over 2 workers holding leases, after SIGTERM", {
  timeout: 120_000,
}, async () => {
  const database = `sqlite:${join(dir, "keyward.db")}`;
  const { key, secret } = makeKey({
    monthlyQuota: 100_000,
    credits: { remaining: 50_000, refill: undefined },
    now: Date.now(),
  });
  await seedDatabase(database, { keys: [key] });
  const server = spawnServer(
    {
      KEYWARD_WORKERS: "2",
      KEYWARD_LISTEN: "127.0.0.1:0",
      KEYWARD_HTTP_LISTEN: "off",
      KEYWARD_DATABASE: database,
      KEYWARD_USAGE_FLUSH: "1h",
    },
    { processGroup: true },
  );
  const clients: GrpcClients[] = [];
  try {
    const port = await servingPort(server);
    const pids = await waitForServing(server, 2);
    for (let i = 0; i < 8; i++) clients.push(grpcClients(`127.0.0.1:${port}`));
    for (const client of clients)
      expect((await client.authorize.authorize({ apiKey: "" })).allowed).toBe(false);
    const held = connectionsHeld(pids, port);
    for (const pid of pids) expect(held.get(pid), `connections held by worker ${pid}`).toBeGreaterThan(0);
    for (let round = 0; round < 15; round++) {
      const answers = await Promise.all(
        clients.map((client) => client.authorize.authorize({ apiKey: secret })),
      );
      for (const answer of answers) expect(answer.reason).toBe(Reason.ALLOWED);
    }
    for (const client of clients.splice(0)) client.close();
    expect(await stopServer(server), server.output()).toBe(0);
  } finally {
    for (const client of clients) client.close();
    await killGroup(server);
  }
  const after = await openMigrated(database);
  try {
    expect(await readUsage(after.db, key.keyId, Date.now())).toMatchObject({
      requestsThisMonth: 120,
      quotaUsedThisMonth: 120,
      creditsRemaining: 50_000 - 120,
    });
  } finally {
    await after.close();
  }
});
