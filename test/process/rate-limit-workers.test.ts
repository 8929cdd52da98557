import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { Reason } from "../../src/gen/keyward/v1/key_pb.js";
import { seedDatabase } from "../support/databases.js";
import { makeKey } from "../support/fixtures.js";
import { withCluster } from "../support/spawn-cluster.js";

// Issue 12: a rate limit holds for the key as a whole, not per worker. With KEYWARD_WORKERS=2 and the
// calls spread over both workers, a free-tier key gets exactly 10 calls a minute in total; budgets
// kept per worker would let up to 20 through (withCluster checks that both workers hold connections).
// SQLite only: the limit is counted in the primary's memory, never in the store, so the engine
// behind it changes nothing here.

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
  await withCluster({ workers: 2, clients: 8, database }, async ({ clients }) => {
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, i) => clients[i % 8]?.authorize.authorize({ apiKey: secret })),
    );
    const reasons = answers.map((answer) => answer?.reason);
    expect(reasons.filter((reason) => reason === Reason.ALLOWED)).toHaveLength(10);
    expect(reasons.filter((reason) => reason === Reason.RATE_LIMITED)).toHaveLength(30);
  });
});
