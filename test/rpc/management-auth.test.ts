import { Code } from "@connectrpc/connect";
import { beforeAll, describe, expect, it } from "vitest";
import { bootstrapAdmin } from "../../src/cli/bootstrap.js";
import { generateKey } from "../../src/domain/key-format.js";
import { type Environment, KeyStatus } from "../../src/gen/keyward/v1/key_pb.js";
import { useServer } from "../support/use-server.js";

// KeyService needs `authorization: Bearer <key>` of an active keyward:admin key in the target workspace.

const server = useServer();
let admin: string;
let acmeAdmin: string;
let globalAdmin: string;

beforeAll(async () => {
  admin = server.admin;
  acmeAdmin = await server.bootstrap("acme");
  globalAdmin = await server.bootstrapGlobal();
});

describe("management authentication", () => {
  it("refuses a call without a bearer key, or with one that is not a valid key, as UNAUTHENTICATED", async () => {
    for (const bearer of [undefined, "garbage", generateKey("kw", "live")]) {
      const { keys } = server.clients(bearer);
      await expect(keys.issueKey({ name: "x" })).rejects.toMatchObject({ code: Code.Unauthenticated });
      await expect(keys.revokeKey({ keyId: "key_x" })).rejects.toMatchObject({ code: Code.Unauthenticated });
    }
  });

  it("refuses a valid key without keyward:admin as PERMISSION_DENIED", async () => {
    const { secret } = await server.clients(admin).keys.issueKey({
      name: "plain",
      scopes: ["models:read"],
    });
    const { keys } = server.clients(secret);
    const error = await keys.issueKey({ name: "x" }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: Code.PermissionDenied });
    expect(String((error as Error).message)).toContain("keyward:admin");
  });

  it("refuses every cross-workspace attempt as PERMISSION_DENIED", async () => {
    const acme = server.clients(acmeAdmin).keys;
    const home = server.clients(admin).keys;
    await expect(acme.issueKey({ name: "x", workspace: "default" })).rejects.toMatchObject({
      code: Code.PermissionDenied,
    });
    await expect(acme.issueKey({ name: "x" })).rejects.toMatchObject({ code: Code.PermissionDenied });
    const acmeKey = await acme.issueKey({ name: "acme key", workspace: "acme" });
    expect(acmeKey.key?.workspace).toBe("acme");
    await expect(home.revokeKey({ keyId: acmeKey.key?.keyId ?? "" })).rejects.toMatchObject({
      code: Code.PermissionDenied,
    });
  });

  it("stops accepting an admin key the moment it is revoked", async () => {
    const root = server.clients(admin).keys;
    const second = await root.issueKey({ name: "second admin", scopes: ["keyward:admin"] });
    const secondKeys = server.clients(second.secret).keys;
    await expect(secondKeys.issueKey({ name: "made by second" })).resolves.toMatchObject({
      key: { name: "made by second", workspace: "default", status: KeyStatus.ACTIVE },
    });
    await root.revokeKey({ keyId: second.key?.keyId ?? "" });
    await expect(secondKeys.issueKey({ name: "after revoke" })).rejects.toMatchObject({
      code: Code.Unauthenticated,
    });
  });

  it("validates IssueKey input with INVALID_ARGUMENT naming the problem", async () => {
    const { keys } = server.clients(admin);
    const cases: [Parameters<typeof keys.issueKey>[0], string][] = [
      [{ name: "" }, "name is required"],
      [{ name: "x".repeat(201) }, "name"],
      [{ name: "x", scopes: ["models:read", "bad scope"] }, '"bad scope"'],
      [{ name: "x", prefix: "Bad_Prefix" }, "prefix"],
      [{ name: "x", ttl: { seconds: -5n } }, "ttl"],
      [{ name: "x", expireTime: { seconds: 1n } }, "expire_time must be in the future"],
      [{ name: "x", ttl: { seconds: 60n }, expireTime: { seconds: 99999999999n } }, "not both"],
      [{ name: "x", environment: 7 as Environment }, "environment"],
    ];
    for (const [request, expected] of cases) {
      const error = await keys.issueKey(request).catch((e: unknown) => e);
      expect(
        error,
        JSON.stringify(request, (_, v) => (typeof v === "bigint" ? `${v}` : v)),
      ).toMatchObject({
        code: Code.InvalidArgument,
      });
      expect((error as Error).message).toContain(expected);
    }
  });

  it("issues keys with a custom prefix and the workspace's admin", async () => {
    const { keys } = server.clients(acmeAdmin);
    const issued = await keys.issueKey({ name: "custom", workspace: "acme", prefix: "acme" });
    expect(issued.secret.startsWith("acme_live_")).toBe(true);
    const decision = await server.clients().authorize.authorize({ apiKey: issued.secret });
    expect(decision.allowed).toBe(true);
    expect(decision.workspace).toBe("acme");
  });
});

/** WorkspaceService over gRPC with a bearer key. */
function workspaceClient(bearer: string) {
  return server.clients(bearer).workspaces;
}

/** The gRPC code a call ended with: OK (0) or its error's code. */
async function codeOf(call: Promise<unknown>): Promise<Code | 0> {
  return call.then(
    () => 0,
    (error: unknown) => (error as { code: Code }).code,
  );
}

// The authority rule (admin-access.ts, checkAuthority): only an explicit keyward:superadmin on a key of the
// keyward workspace is a global admin; nobody else may give a key keyward:superadmin, touch keys of the
// keyward workspace or list workspaces. Each caller kind below tries every way up (issue #10, defect 4).
describe("management authority", () => {
  /** A non-global caller: its workspace, and the scope of a key the issuer gives it ("" for acme's bootstrap admin). */
  type Caller = { readonly name: string; readonly workspace: string; readonly scope: string; secret: string };
  const callers: Caller[] = [
    { name: "workspace admin (keyward:admin)", workspace: "acme", scope: "", secret: "" },
    { name: "`*` key", workspace: "acme", scope: "*", secret: "" },
    { name: "`keyward:*` key", workspace: "acme", scope: "keyward:*", secret: "" },
    { name: "`*` key of workspace keyward", workspace: "keyward", scope: "*", secret: "" },
    { name: "`keyward:*` key of workspace keyward", workspace: "keyward", scope: "keyward:*", secret: "" },
    {
      name: "keyward:admin key of workspace keyward",
      workspace: "keyward",
      scope: "keyward:admin",
      secret: "",
    },
  ];
  let globalKeyId: string;
  let acmeSuper: string;

  beforeAll(async () => {
    const root = server.clients(globalAdmin).keys;
    const acme = server.clients(acmeAdmin).keys;
    // A workspace admin may give a key of its own workspace `*`: its whole authority there, never global.
    // Keys of workspace keyward only a global admin can issue (bootstrap --workspace keyward is refused).
    for (const caller of callers) {
      if (caller.scope === "") caller.secret = acmeAdmin;
      else {
        const issuer = caller.workspace === "acme" ? acme : root;
        const request = { name: caller.name, workspace: caller.workspace, scopes: [caller.scope] };
        caller.secret = (await issuer.issueKey(request)).secret;
      }
    }
    const listed = await root.listKeys({ workspace: "keyward", pageSize: 1000 });
    globalKeyId = listed.keys.find((key) => key.scopes.includes("keyward:superadmin"))?.keyId ?? "";
    expect(globalKeyId).not.toBe("");
    // Inert outside the keyward workspace, but still only a global admin may issue, rotate or keep it.
    acmeSuper = (await root.issueKey({ name: "inert", workspace: "acme", scopes: ["keyward:superadmin"] }))
      .key?.keyId as string;
  });

  it.each(callers.map((caller, index) => [caller.name, index] as const))(
    "a %s cannot reach global admin in any way",
    async (_name, index) => {
      const caller = callers[index] as Caller;
      const keys = server.clients(caller.secret).keys;
      const own = caller.workspace;
      const denied = Code.PermissionDenied;
      const attempts: [string, () => Promise<unknown>][] = [
        ["list workspaces", () => workspaceClient(caller.secret).listWorkspaces({})],
        [
          "create a workspace",
          () => workspaceClient(caller.secret).createWorkspace({ workspace: { workspaceId: "x" } }),
        ],
        [
          "issue keyward:superadmin in its own workspace",
          () => keys.issueKey({ name: "up", workspace: own, scopes: ["keyward:superadmin"] }),
        ],
        [
          "issue into workspace keyward",
          () => keys.issueKey({ name: "up", workspace: "keyward", scopes: ["*"] }),
        ],
        [
          "issue keyward:superadmin into workspace keyward",
          () => keys.issueKey({ name: "up", workspace: "keyward", scopes: ["keyward:superadmin"] }),
        ],
        ["read the global admin key", () => keys.getKey({ keyId: globalKeyId })],
        ["list the keys of workspace keyward", () => keys.listKeys({ workspace: "keyward" })],
        ["rotate the global admin key", () => keys.rotateKey({ keyId: globalKeyId })],
        [
          "update the global admin key",
          () =>
            keys.updateKey({ key: { keyId: globalKeyId, name: "mine" }, updateMask: { paths: ["name"] } }),
        ],
        ["suspend the global admin key", () => keys.suspendKey({ keyId: globalKeyId })],
        ["revoke the global admin key", () => keys.revokeKey({ keyId: globalKeyId })],
      ];
      if (own === "acme") {
        const target = await keys.issueKey({ name: "to widen", workspace: "acme", scopes: ["models:read"] });
        const targetId = target.key?.keyId ?? "";
        attempts.splice(
          -1,
          0,
          [
            "widen a key of its own workspace to keyward:superadmin",
            () =>
              keys.updateKey({
                key: { keyId: targetId, scopes: ["models:read", "keyward:superadmin"] },
                updateMask: { paths: ["scopes"] },
              }),
          ],
          ["rotate a key holding keyward:superadmin", () => keys.rotateKey({ keyId: acmeSuper })],
          [
            "rename a key holding keyward:superadmin",
            () =>
              keys.updateKey({ key: { keyId: acmeSuper, name: "kept" }, updateMask: { paths: ["name"] } }),
          ],
        );
      }
      // One at a time, revocation last: a call that wrongly succeeds must not disturb the next.
      for (const [what, call] of attempts) expect(await codeOf(call()), what).toBe(denied);
      // Nothing those attempts could have done left a global admin behind.
      const root = server.clients(globalAdmin).keys;
      const system = await root.listKeys({ workspace: "keyward", pageSize: 1000 });
      expect(system.keys.filter((key) => key.scopes.includes("keyward:superadmin"))).toHaveLength(1);
    },
  );

  it("lets the workspace's own non-global callers keep full authority inside it", async () => {
    for (const caller of callers.slice(0, 3)) {
      const keys = server.clients(caller.secret).keys;
      const issued = await keys.issueKey({ name: "wide", workspace: "acme", scopes: ["*"] });
      await expect(keys.rotateKey({ keyId: issued.key?.keyId ?? "" }), caller.name).resolves.toMatchObject({
        key: { workspace: "acme", scopes: ["*"], rotatedFromKeyId: issued.key?.keyId },
      });
    }
  });

  it("refuses bootstrap --workspace keyward: that workspace holds global admins only", async () => {
    const refused = await bootstrapAdmin(
      { database: server.database, workspace: "keyward", name: "sneaky" },
      { now: Date.now },
    );
    expect(refused.ok ? "ok" : refused.error.code).toBe("invalid_argument");
    const root = server.clients(globalAdmin).keys;
    const system = await root.listKeys({ workspace: "keyward", pageSize: 1000 });
    expect(system.keys.map((key) => key.name)).not.toContain("sneaky");
  });

  it("lets only the global admin do all of it", async () => {
    const root = server.clients(globalAdmin).keys;
    const second = await root.issueKey({
      name: "second ops",
      workspace: "keyward",
      scopes: ["keyward:superadmin"],
    });
    expect(await codeOf(workspaceClient(second.secret).listWorkspaces({}))).toBe(0);
    const rotated = await root.rotateKey({ keyId: second.key?.keyId ?? "" });
    expect(await codeOf(workspaceClient(rotated.secret).listWorkspaces({}))).toBe(0);
    const plain = await root.issueKey({ name: "to widen", workspace: "acme", scopes: ["models:read"] });
    const widened = await root.updateKey({
      key: { keyId: plain.key?.keyId ?? "", scopes: ["keyward:superadmin"] },
      updateMask: { paths: ["scopes"] },
    });
    expect(widened.key?.scopes).toEqual(["keyward:superadmin"]);
    await expect(root.rotateKey({ keyId: acmeSuper })).resolves.toMatchObject({
      key: { workspace: "acme", scopes: ["keyward:superadmin"], rotatedFromKeyId: acmeSuper },
    });
    await expect(root.revokeKey({ keyId: second.key?.keyId ?? "" })).resolves.toMatchObject({
      key: { keyId: second.key?.keyId, status: KeyStatus.REVOKED },
    });
  });
});
