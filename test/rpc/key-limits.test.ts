import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code } from "@connectrpc/connect";
import { beforeAll, describe, expect, it } from "vitest";
import { RefillInterval } from "../../src/gen/keyward/v1/key_pb.js";
import { useServer } from "../support/use-server.js";

// Issue 12, management half: a key's tier, rate limit, monthly quota, credits and allowed CIDRs are
// set, read back, defaulted from the workspace, validated and audited. Nothing here is enforced yet.

const minute = { seconds: 60n };

describe("key limits through KeyService", () => {
  const server = useServer();
  let global: string;

  beforeAll(async () => {
    global = await server.bootstrapGlobal();
  });

  it("issues a key with every limit and reads them back through GetKey and ListKeys", async () => {
    const { keys } = server.clients(server.admin);
    const issued = await keys.issueKey({
      name: "limited",
      tier: "pro",
      rateLimit: { limit: 100n, window: minute },
      monthlyQuota: 50_000n,
      credits: { remaining: 100n, refill: { amount: 100n, interval: RefillInterval.MONTHLY } },
      allowedCidrs: ["10.0.0.0/8", "192.0.2.7", "2001:DB8::/32", "10.0.0.0/8"],
    });
    const expected = {
      tier: "pro",
      rateLimit: { limit: 100n, window: { seconds: 60n, nanos: 0 } },
      monthlyQuota: 50_000n,
      credits: { remaining: 100n, refill: { amount: 100n, interval: RefillInterval.MONTHLY } },
      // Bare addresses become /32 or /128, IPv6 is lower-cased, duplicates go.
      allowedCidrs: ["10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32"],
    };
    expect(issued.key).toMatchObject(expected);
    const keyId = issued.key?.keyId ?? "";
    expect((await keys.getKey({ keyId })).key).toMatchObject(expected);
    const listed = await keys.listKeys({ namePrefix: "limited" });
    expect(listed.keys).toHaveLength(1);
    expect(listed.keys[0]).toMatchObject(expected);
  });

  it("issues a key without limits as before: no tier, no rate limit, quota 0, no credits, anywhere", async () => {
    const { keys } = server.clients(server.admin);
    const { key } = await keys.issueKey({ name: "plain" });
    expect(key).toMatchObject({ tier: "", monthlyQuota: 0n, allowedCidrs: [] });
    expect(key?.rateLimit).toBeUndefined();
    expect(key?.credits).toBeUndefined();
  });

  it("applies the workspace's default tier and quota, unless the request sets its own", async () => {
    const { workspaces, keys } = server.clients(global);
    const created = await workspaces.createWorkspace({
      workspace: { workspaceId: "hosted", defaultTier: "basic", defaultMonthlyQuota: 10_000n },
    });
    expect(created.workspace).toMatchObject({ defaultTier: "basic", defaultMonthlyQuota: 10_000n });
    const defaulted = await keys.issueKey({ workspace: "hosted", name: "defaulted" });
    expect(defaulted.key).toMatchObject({ tier: "basic", monthlyQuota: 10_000n });
    const own = await keys.issueKey({
      workspace: "hosted",
      name: "own",
      tier: "enterprise",
      monthlyQuota: 0n,
    });
    expect(own.key).toMatchObject({ tier: "enterprise", monthlyQuota: 0n }); // 0 set: unlimited, not the default

    const updated = await workspaces.updateWorkspace({
      workspace: { workspaceId: "hosted", defaultTier: "pro", defaultMonthlyQuota: 20n },
      updateMask: { paths: ["default_tier", "default_monthly_quota"] },
    });
    expect(updated.workspace).toMatchObject({ defaultTier: "pro", defaultMonthlyQuota: 20n });
    const { events } = await server.clients(global).audit.listAuditEvents({
      workspace: "hosted",
      action: "workspace.updated",
    });
    expect(events[0]?.changedFields).toEqual(["default_tier", "default_monthly_quota"]);
    expect((await keys.issueKey({ workspace: "hosted", name: "later" })).key).toMatchObject({
      tier: "pro",
      monthlyQuota: 20n,
    });

    // `keyward bootstrap` writes its admin key without the workspace's limit defaults.
    await server.bootstrap("hosted");
    const listed = await keys.listKeys({ workspace: "hosted" });
    const admin = listed.keys.find((key) => key.scopes.includes("keyward:admin"));
    expect(admin).toMatchObject({ tier: "", monthlyQuota: 0n });
  });

  it("refuses an unknown tier, naming it, on keys and workspace defaults", async () => {
    const { keys, workspaces } = server.clients(global);
    await expect(keys.issueKey({ name: "x", tier: "platinum" })).rejects.toMatchObject({
      code: Code.InvalidArgument,
      rawMessage: expect.stringContaining('unknown tier "platinum"'),
    });
    const { key } = await keys.issueKey({ name: "y" });
    await expect(
      keys.updateKey({ key: { keyId: key?.keyId ?? "", tier: "gold" }, updateMask: { paths: ["tier"] } }),
    ).rejects.toMatchObject({ code: Code.InvalidArgument, rawMessage: expect.stringContaining('"gold"') });
    await expect(
      workspaces.createWorkspace({ workspace: { workspaceId: "w-bad", defaultTier: "diamond" } }),
    ).rejects.toMatchObject({ code: Code.InvalidArgument, rawMessage: expect.stringContaining('"diamond"') });
    await expect(
      workspaces.updateWorkspace({
        workspace: { workspaceId: "hosted", defaultMonthlyQuota: -1n },
        updateMask: { paths: ["default_monthly_quota"] },
      }),
    ).rejects.toMatchObject({ code: Code.InvalidArgument });
  });

  it.each([
    ["a bad CIDR", { allowedCidrs: ["10.0.0.0/33"] }, "10.0.0.0/33"],
    ["a host name", { allowedCidrs: ["example.com"] }, "example.com"],
    ["a zero limit", { rateLimit: { limit: 0n, window: minute } }, "rate_limit.limit"],
    ["a window under 1s", { rateLimit: { limit: 5n, window: { nanos: 500_000_000 } } }, "rate_limit.window"],
    ["a window over 24h", { rateLimit: { limit: 5n, window: { seconds: 86_401n } } }, "rate_limit.window"],
    ["a rate limit without window", { rateLimit: { limit: 5n } }, "rate_limit.window"],
    ["a negative quota", { monthlyQuota: -1n }, "monthly_quota"],
    ["negative credits", { credits: { remaining: -1n } }, "credits.remaining"],
    [
      "a zero refill",
      { credits: { remaining: 1n, refill: { amount: 0n, interval: RefillInterval.DAILY } } },
      "amount",
    ],
    ["a refill without interval", { credits: { remaining: 1n, refill: { amount: 5n } } }, "interval"],
  ])("refuses %s as INVALID_ARGUMENT", async (_, fields, named) => {
    const { keys } = server.clients(server.admin);
    await expect(keys.issueKey({ name: "bad", ...fields })).rejects.toMatchObject({
      code: Code.InvalidArgument,
      rawMessage: expect.stringContaining(named),
    });
  });

  it("refuses more than 100 CIDRs", async () => {
    const { keys } = server.clients(server.admin);
    const allowedCidrs = Array.from({ length: 101 }, (_, i) => `10.0.${i}.0/24`);
    await expect(keys.issueKey({ name: "many", allowedCidrs })).rejects.toMatchObject({
      code: Code.InvalidArgument,
    });
  });

  it("updates each limit by its mask path and records the changed fields", async () => {
    const { keys, audit } = server.clients(server.admin);
    const { key } = await keys.issueKey({ name: "to update" });
    const keyId = key?.keyId ?? "";
    const updated = await keys.updateKey({
      key: {
        keyId,
        tier: "free",
        rateLimit: { limit: 5n, window: { seconds: 1n } },
        monthlyQuota: 1_000n,
        credits: { remaining: 10n, refill: { amount: 10n, interval: RefillInterval.DAILY } },
        allowedCidrs: ["::1"],
      },
      updateMask: { paths: ["tier", "rate_limit", "monthly_quota", "credits", "allowed_cidrs"] },
    });
    expect(updated.key).toMatchObject({
      tier: "free",
      rateLimit: { limit: 5n, window: { seconds: 1n } },
      monthlyQuota: 1_000n,
      credits: { remaining: 10n, refill: { amount: 10n, interval: RefillInterval.DAILY } },
      allowedCidrs: ["::1/128"],
    });
    const changes = async () =>
      (await audit.listAuditEvents({ action: "key.updated" })).events.filter((e) => e.targetId === keyId);
    expect((await changes())[0]?.changedFields).toEqual([
      "tier",
      "rate_limit",
      "monthly_quota",
      "credits",
      "allowed_cidrs",
    ]);

    // Unset in the message, named in the mask: the limit is removed.
    const cleared = await keys.updateKey({
      key: { keyId },
      updateMask: { paths: ["rate_limit", "credits", "allowed_cidrs", "tier"] },
    });
    expect(cleared.key).toMatchObject({ tier: "", allowedCidrs: [], monthlyQuota: 1_000n });
    expect(cleared.key?.rateLimit).toBeUndefined();
    expect(cleared.key?.credits).toBeUndefined();
    expect((await changes())[0]?.changedFields).toEqual(["tier", "rate_limit", "credits", "allowed_cidrs"]);
    expect((await keys.getKey({ keyId })).key?.credits).toBeUndefined();
  });

  it("rotation keeps the old key's limits", async () => {
    const { keys } = server.clients(server.admin);
    const { key } = await keys.issueKey({ name: "rotated", tier: "basic", allowedCidrs: ["10.1.0.0/16"] });
    const rotated = await keys.rotateKey({ keyId: key?.keyId ?? "" });
    expect(rotated.key).toMatchObject({ tier: "basic", allowedCidrs: ["10.1.0.0/16"] });
  });
});

describe("KEYWARD_TIERS", () => {
  const dir = mkdtempSync(join(tmpdir(), "keyward-tiers-"));
  const file = join(dir, "tiers.yaml");
  writeFileSync(file, "tiers:\n  hobby: { limit: 5, window: 1s }\n  team: { limit: 500, window: 1h }\n");
  const server = useServer({ env: { KEYWARD_TIERS: file } });

  it("replaces the default tiers", async () => {
    const { keys } = server.clients(server.admin);
    expect((await keys.issueKey({ name: "hobby", tier: "hobby" })).key?.tier).toBe("hobby");
    await expect(keys.issueKey({ name: "pro", tier: "pro" })).rejects.toMatchObject({
      code: Code.InvalidArgument,
      rawMessage: expect.stringContaining("hobby, team"),
    });
  });
});
