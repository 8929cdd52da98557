import { Code } from "@connectrpc/connect";
import { beforeAll, describe, expect, it } from "vitest";
import { Environment, KeyStatus, Reason } from "../../src/gen/keyward/v1/key_pb.js";
import { WorkspaceStatus } from "../../src/gen/keyward/v1/workspace_service_pb.js";
import { useServer } from "../support/use-server.js";

// Workspaces: global admins, limits, suspension, and the wall between tenants.

const server = useServer();
let global: string;

beforeAll(async () => {
  global = await server.bootstrapGlobal();
});

function workspaces(bearer: string) {
  return server.clients(bearer);
}

describe("WorkspaceService", () => {
  it("creates, reads, lists and updates workspaces with a global admin", async () => {
    const ws = workspaces(global).workspaces;
    const created = await ws.createWorkspace({
      workspace: { workspaceId: "tenant-a", displayName: "Tenant A", maxKeys: 5, defaultKeyPrefix: "ta" },
    });
    expect(created.workspace).toMatchObject({
      workspaceId: "tenant-a",
      status: WorkspaceStatus.ACTIVE,
      activeKeys: 0,
    });
    await expect(ws.createWorkspace({ workspace: { workspaceId: "tenant-a" } })).rejects.toMatchObject({
      code: Code.AlreadyExists,
    });
    await expect(ws.createWorkspace({ workspace: { workspaceId: "bad id!" } })).rejects.toMatchObject({
      code: Code.InvalidArgument,
    });
    const updated = await ws.updateWorkspace({
      workspace: {
        workspaceId: "tenant-a",
        displayName: "Tenant A Ltd",
        defaultEnvironment: Environment.TEST,
      },
      updateMask: { paths: ["display_name", "default_environment"] },
    });
    expect(updated.workspace).toMatchObject({ displayName: "Tenant A Ltd", maxKeys: 5 });
    const listed = await ws.listWorkspaces({});
    expect(listed.workspaces.map((w) => w.workspaceId)).toEqual(
      expect.arrayContaining(["keyward", "tenant-a"]),
    );

    // The workspace's defaults apply to keys issued without prefix or environment.
    const { keys } = server.clients(global);
    const issued = await keys.issueKey({ workspace: "tenant-a", name: "defaults" });
    expect(issued.secret).toMatch(/^ta_test_/);
    expect((await ws.getWorkspace({ workspaceId: "tenant-a" })).workspace?.activeKeys).toBe(1);
  });

  it("refuses workspace management to a workspace admin, but lets it read its own workspace", async () => {
    await workspaces(global).workspaces.createWorkspace({ workspace: { workspaceId: "tenant-b" } });
    const admin = await server.bootstrap("tenant-b");
    const ws = workspaces(admin).workspaces;
    expect((await ws.getWorkspace({ workspaceId: "tenant-b" })).workspace?.workspaceId).toBe("tenant-b");
    for (const call of [
      () => ws.getWorkspace({ workspaceId: "tenant-a" }),
      () => ws.listWorkspaces({}),
      () => ws.createWorkspace({ workspace: { workspaceId: "tenant-x" } }),
      () => ws.suspendWorkspace({ workspaceId: "tenant-b" }),
      () =>
        ws.updateWorkspace({
          workspace: { workspaceId: "tenant-b", maxKeys: 0 },
          updateMask: { paths: ["max_keys"] },
        }),
    ]) {
      await expect(call()).rejects.toMatchObject({ code: Code.PermissionDenied });
    }
  });

  it("enforces max_keys with RESOURCE_EXHAUSTED naming the limit, for IssueKey and RotateKey", async () => {
    await workspaces(global).workspaces.createWorkspace({ workspace: { workspaceId: "small", maxKeys: 2 } });
    const { keys } = server.clients(global);
    const first = await keys.issueKey({ workspace: "small", name: "1" });
    await keys.issueKey({ workspace: "small", name: "2" });
    const refused = await keys.issueKey({ workspace: "small", name: "3" }).catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: Code.ResourceExhausted });
    expect(String((refused as Error).message)).toContain("account key limit reached");
    await expect(keys.rotateKey({ keyId: first.key?.keyId ?? "" })).rejects.toMatchObject({
      code: Code.ResourceExhausted,
    });
    await keys.revokeKey({ keyId: first.key?.keyId ?? "" }); // a revoked key frees its place
    await expect(keys.issueKey({ workspace: "small", name: "3" })).resolves.toMatchObject({
      key: { workspace: "small", name: "3", status: KeyStatus.ACTIVE },
    });
  });

  it("denies every key of a suspended workspace, stops its admins, and restores both on resume", async () => {
    const ws = workspaces(global).workspaces;
    await ws.createWorkspace({ workspace: { workspaceId: "tenant-s" } });
    const admin = await server.bootstrap("tenant-s");
    const tenant = server.clients(admin);
    const a = await tenant.keys.issueKey({ workspace: "tenant-s", name: "a", scopes: ["models:read"] });
    const b = await tenant.keys.issueKey({ workspace: "tenant-s", name: "b" });
    expect((await tenant.authorize.authorize({ apiKey: a.secret })).allowed).toBe(true); // cached

    const suspended = await ws.suspendWorkspace({ workspaceId: "tenant-s", reason: "unpaid invoice" });
    expect(suspended.workspace).toMatchObject({
      status: WorkspaceStatus.SUSPENDED,
      suspendReason: "unpaid invoice",
    });
    for (const secret of [a.secret, b.secret]) {
      expect(await tenant.authorize.authorize({ apiKey: secret })).toMatchObject({
        allowed: false,
        reason: Reason.WORKSPACE_SUSPENDED,
        httpStatus: 403,
      });
    }
    await expect(tenant.keys.issueKey({ workspace: "tenant-s", name: "c" })).rejects.toMatchObject({
      code: Code.PermissionDenied,
    });
    await expect(ws.suspendWorkspace({ workspaceId: "keyward" })).rejects.toMatchObject({
      code: Code.FailedPrecondition,
    });

    await ws.resumeWorkspace({ workspaceId: "tenant-s" });
    expect((await tenant.authorize.authorize({ apiKey: a.secret })).allowed).toBe(true);
    await expect(tenant.keys.issueKey({ workspace: "tenant-s", name: "c" })).resolves.toMatchObject({
      key: { workspace: "tenant-s", name: "c", status: KeyStatus.ACTIVE },
    });
  });

  it("refuses every cross-workspace attempt without leaking the other workspace's data", async () => {
    const ws = workspaces(global).workspaces;
    await ws.createWorkspace({ workspace: { workspaceId: "red" } });
    await ws.createWorkspace({ workspace: { workspaceId: "blue" } });
    const red = server.clients(await server.bootstrap("red"));
    const blueAdmin = await server.bootstrap("blue");
    const blue = server.clients(blueAdmin);
    const blueKey = (await blue.keys.issueKey({ workspace: "blue", name: "blue secret", ownerId: "b" })).key;
    const keyId = blueKey?.keyId ?? "";
    const denied = { code: Code.PermissionDenied };
    await expect(red.keys.getKey({ keyId })).rejects.toMatchObject(denied);
    await expect(red.keys.revokeKey({ keyId })).rejects.toMatchObject(denied);
    await expect(red.keys.suspendKey({ keyId })).rejects.toMatchObject(denied);
    await expect(red.keys.resumeKey({ keyId })).rejects.toMatchObject(denied);
    await expect(red.keys.rotateKey({ keyId })).rejects.toMatchObject(denied);
    await expect(
      red.keys.updateKey({ key: { keyId, name: "x" }, updateMask: { paths: ["name"] } }),
    ).rejects.toMatchObject(denied);
    await expect(red.keys.listKeys({ workspace: "blue" })).rejects.toMatchObject(denied);
    await expect(red.keys.listKeys({ workspace: "blue", ownerId: "b" })).rejects.toMatchObject(denied);
    await expect(red.keys.issueKey({ workspace: "blue", name: "x" })).rejects.toMatchObject(denied);
    await expect(
      workspaces(await server.bootstrap("red")).audit.listAuditEvents({ workspace: "blue" }),
    ).rejects.toMatchObject(denied);
    // Red's own listing never shows blue's keys, and blue's page token is refused for red's workspace.
    const redList = await red.keys.listKeys({});
    expect(redList.keys.every((k) => k.workspace === "red")).toBe(true);
    const bluePage = await blue.keys.listKeys({ pageSize: 1 });
    expect(bluePage.nextPageToken).not.toBe("");
    await expect(red.keys.listKeys({ pageToken: bluePage.nextPageToken })).rejects.toMatchObject({
      code: Code.InvalidArgument,
    });
    // The blue key is untouched.
    expect((await blue.keys.getKey({ keyId })).key).toEqual(blueKey);
  });
});
