import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { grpcClients } from "../support/clients.js";
import { type SpawnedKeyward, spawnKeyward } from "../support/spawned-keyward.js";

// Issue 15: SIGHUP to the primary makes every worker read the route policy and the tier file again;
// a tier file that drops a tier keys still name is refused and the tiers in force stay.

let dir: string;
let keyward: SpawnedKeyward;
let clients: ReturnType<typeof grpcClients>[];

const TEAM = "tiers:\n  free: { limit: 10, window: 1m }\n  team: { limit: 500, window: 1m }\n";
const POLICY = "rules:\n  - path: /v1/orders\n    scopes: [orders:read]\n";

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "keyward-sighup-"));
  writeFileSync(join(dir, "tiers.yaml"), TEAM);
  writeFileSync(join(dir, "policy.yaml"), POLICY);
  keyward = await spawnKeyward({
    KEYWARD_WORKERS: "2",
    KEYWARD_TIERS: join(dir, "tiers.yaml"),
    KEYWARD_POLICY: join(dir, "policy.yaml"),
    KEYWARD_POLICY_RELOAD: "1h", // only SIGHUP reloads within the test
  });
  clients = Array.from({ length: 4 }, () => grpcClients(keyward.grpcAddress, keyward.admin));
}, 60_000);

afterAll(async () => {
  for (const client of clients ?? []) client.close();
  await keyward?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Sends SIGHUP to the primary and waits (bounded) until both workers have logged `line`. */
async function hangUp(line: string, before: number): Promise<void> {
  keyward.process.child.kill("SIGHUP");
  for (let i = 0; i < 100 && keyward.process.output().split(line).length - 1 < before + 2; i++)
    await new Promise((resolve) => setTimeout(resolve, 50));
  expect(keyward.process.output().split(line).length - 1).toBe(before + 2);
}

/** Issues a key of `tier` on every connection (both workers); the outcomes. */
async function issueOnEvery(tier: string): Promise<string[]> {
  return Promise.all(
    clients.map((client) =>
      client.keys.issueKey({ name: tier, tier }).then(
        () => "ok",
        (error: { code?: unknown }) => `failed ${String(error.code)}`,
      ),
    ),
  );
}

it("reads a new tier file and a new route policy on SIGHUP, in every worker", async () => {
  expect(new Set(await issueOnEvery("gold"))).toEqual(new Set(["failed 3"])); // INVALID_ARGUMENT: no such tier
  const status = () =>
    fetch(`${keyward.httpUrl}/authz/forward-auth`, {
      headers: { "x-forwarded-method": "GET", "x-forwarded-uri": "/v1/status" },
    });
  expect([401, 403]).toContain((await status()).status); // no rule: denied

  writeFileSync(join(dir, "tiers.yaml"), `${TEAM}  gold: { limit: 2000, window: 1m }\n`);
  writeFileSync(join(dir, "policy.yaml"), `${POLICY}  - path: /v1/status\n    public: true\n`);
  await hangUp("tiers reloaded", 0);
  expect(keyward.process.output().split("route policy reloaded").length - 1).toBe(2);
  expect(await issueOnEvery("gold")).toEqual(["ok", "ok", "ok", "ok"]);
  for (let i = 0; i < 4; i++) expect((await status()).status).toBe(200);
});

it("refuses a tier file that drops a tier keys still name, and keeps the tiers in force", async () => {
  expect(await issueOnEvery("team")).toEqual(["ok", "ok", "ok", "ok"]);
  writeFileSync(join(dir, "tiers.yaml"), "tiers:\n  free: { limit: 10, window: 1m }\n");
  await hangUp("tier file refused; the tiers in force stay", 0);
  expect(keyward.process.output()).toContain("team");
  expect(await issueOnEvery("team")).toEqual(["ok", "ok", "ok", "ok"]);
  expect(keyward.process.child.exitCode).toBeNull();
});
