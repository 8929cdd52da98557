import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { perTestDatabase, seedDatabase } from "../support/databases.js";
import { makeKey, makeWorkspace } from "../support/fixtures.js";
import { spawnServer } from "../support/spawn-server.js";

// A tier removed from KEYWARD_TIERS while keys use it would leave those keys with no rate limit at
// all: start-up refuses, with one line naming the tier, exit code 2, as for any invalid setting. The
// tiers in use are read from the store, so the postgres project runs it on PostgreSQL as well. The
// server never serves, so it needs no cluster (test/support/spawn-cluster.ts): spawnServer alone.

const database = perTestDatabase();

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "keyward-tiers-"));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

it("refuses to start when a key or a workspace default names a tier KEYWARD_TIERS lacks", {
  timeout: 60_000,
}, async () => {
  await seedDatabase(database.temp.url, {
    workspaces: [makeWorkspace("default"), { ...makeWorkspace("shop"), defaultTier: "gold" }],
    // Stored as a former tier table allowed; IssueKey would refuse "gold" under the defaults.
    keys: [
      { ...makeKey().key, tier: "gold" },
      { ...makeKey().key, tier: "gold" },
      makeKey({ tier: "free" }).key,
    ],
  });
  const tiers = join(dir, "tiers.yaml");
  writeFileSync(tiers, "tiers:\n  free: { limit: 10, window: 1m }\n");
  const server = spawnServer({
    KEYWARD_LISTEN: "127.0.0.1:0",
    KEYWARD_HTTP_LISTEN: "off",
    KEYWARD_DATABASE: database.temp.url,
    KEYWARD_TIERS: tiers,
  });
  expect(await server.exited).toBe(2);
  expect(server.output()).toContain(
    'keyward: KEYWARD_TIERS: tiers in use are not defined: "gold" (2 keys and the default of workspace "shop")',
  );
});
