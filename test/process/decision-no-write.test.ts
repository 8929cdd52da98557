import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Sqlite from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
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

// Issue 12: the decision path never writes to the database; usage reaches it only through the
// write-behind flush. The witness is SQLite's `PRAGMA data_version`, read on a connection of the test's
// own: its value changes exactly when another connection (of any process) has committed to the file
// since the last read, so an unchanged value across the burst means no commit at all, whatever
// statement or process it would have come from. The control at the end shows the witness sees this
// server's commits: the flush at SIGTERM writes the burst's counts, and the value moves.
// KEYWARD_USAGE_FLUSH is an hour, so that no timed flush lands inside the burst.

const BURST = 200;

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "keyward-no-write-"));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe.each([1, 2])("with KEYWARD_WORKERS=%i", (workers) => {
  it(`decides ${BURST} calls without a commit to the database`, { timeout: 120_000 }, async () => {
    const path = join(dir, "keyward.db");
    const database = `sqlite:${path}`;
    const now = Date.now();
    // Limits far out of reach, so every one of them is checked and consumed on each call.
    const limited = makeKey({
      keyId: "key_limited",
      rateLimit: { limit: 1_000_000, windowMs: 60_000 },
      monthlyQuota: 1_000_000,
      credits: { remaining: 1_000_000, refill: undefined },
      now,
    });
    const unlimited = makeKey({ keyId: "key_unlimited", now });
    expect(unlimited.key.tier).toBe("");
    await seedDatabase(database, { keys: [limited.key, unlimited.key] });

    const server = spawnServer(
      {
        KEYWARD_WORKERS: String(workers),
        KEYWARD_LISTEN: "127.0.0.1:0",
        KEYWARD_HTTP_LISTEN: "off",
        KEYWARD_DATABASE: database,
        KEYWARD_USAGE_FLUSH: "1h",
      },
      { processGroup: true },
    );
    const clients: GrpcClients[] = [];
    let witness: Sqlite.Database | undefined;
    try {
      const port = await servingPort(server);
      const pids = await waitForServing(server, workers);
      for (let i = 0; i < 8; i++) clients.push(grpcClients(`127.0.0.1:${port}`));
      for (const client of clients)
        expect((await client.authorize.authorize({ apiKey: "" })).allowed).toBe(false);
      const held = connectionsHeld(pids, port);
      for (const pid of pids) expect(held.get(pid), `connections held by worker ${pid}`).toBeGreaterThan(0);

      witness = new Sqlite(path, { readonly: true, fileMustExist: true });
      const version = () => witness?.pragma("data_version", { simple: true });
      const before = version();

      // Both keys, allowed and denied (a scope neither holds): the first call on the limited key reads its
      // usage from the store (a read, which the witness does not count), every later one is memory only.
      const answers = await Promise.all(
        Array.from({ length: BURST }, (_, i) =>
          clients[i % clients.length]?.authorize.authorize({
            apiKey: i % 2 === 0 ? limited.secret : unlimited.secret,
            requiredScopes: i % 10 < 2 ? ["models:write"] : [],
          }),
        ),
      );
      const reasons = answers.map((answer) => answer?.reason);
      expect(reasons.filter((reason) => reason === Reason.ALLOWED)).toHaveLength(BURST * 0.8);
      expect(reasons.filter((reason) => reason === Reason.INSUFFICIENT_SCOPE)).toHaveLength(BURST * 0.2);
      expect(version(), "a commit happened during the burst").toBe(before);

      for (const client of clients.splice(0)) client.close();
      expect(await stopServer(server), server.output()).toBe(0);
      // The control: the same witness sees the flush at SIGTERM commit, with every call of the burst in it.
      expect(version()).not.toBe(before);
      const reader = await openMigrated(database);
      try {
        for (const keyId of [limited.key.keyId, unlimited.key.keyId]) {
          expect(await readUsage(reader.db, keyId, Date.now()), keyId).toMatchObject({
            requestsThisMonth: BURST * 0.4,
            deniedThisMonth: BURST * 0.1,
          });
        }
        expect(await readUsage(reader.db, limited.key.keyId, Date.now())).toMatchObject({
          quotaUsedThisMonth: BURST * 0.4,
          creditsRemaining: 1_000_000 - BURST * 0.4,
        });
      } finally {
        await reader.close();
      }
    } finally {
      witness?.close();
      for (const client of clients) client.close();
      await killGroup(server);
    }
  });
});
