import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateKey } from "../../src/domain/key-format.js";
import type { Environment } from "../../src/gen/keyward/v1/key_pb.js";
import { grpcClients } from "../support/clients.js";
import { bootstrap, startTestServer, type TestServer } from "../support/start-server.js";

// KeyService needs `authorization: Bearer <key>` of an active keyward:admin key in the target workspace.

let server: TestServer;
let admin: string;
let acmeAdmin: string;

beforeAll(async () => {
  server = await startTestServer();
  admin = await bootstrap(server, "default");
  acmeAdmin = await bootstrap(server, "acme");
});

afterAll(async () => {
  await server.stop();
});

describe("management authentication", () => {
  it("refuses a call without a bearer key, or with one that is not a valid key, as UNAUTHENTICATED", async () => {
    for (const bearer of [undefined, "garbage", generateKey("kw", "live")]) {
      const { keys } = grpcClients(server.grpcAddress, bearer);
      await expect(keys.issueKey({ name: "x" })).rejects.toMatchObject({ code: Code.Unauthenticated });
      await expect(keys.revokeKey({ keyId: "key_x" })).rejects.toMatchObject({ code: Code.Unauthenticated });
    }
  });

  it("refuses a valid key without keyward:admin as PERMISSION_DENIED", async () => {
    const { secret } = await grpcClients(server.grpcAddress, admin).keys.issueKey({
      name: "plain",
      scopes: ["models:read"],
    });
    const { keys } = grpcClients(server.grpcAddress, secret);
    const error = await keys.issueKey({ name: "x" }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: Code.PermissionDenied });
    expect(String((error as Error).message)).toContain("keyward:admin");
  });

  it("refuses every cross-workspace attempt as PERMISSION_DENIED", async () => {
    const acme = grpcClients(server.grpcAddress, acmeAdmin).keys;
    const home = grpcClients(server.grpcAddress, admin).keys;
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
    const root = grpcClients(server.grpcAddress, admin).keys;
    const second = await root.issueKey({ name: "second admin", scopes: ["keyward:admin"] });
    const secondKeys = grpcClients(server.grpcAddress, second.secret).keys;
    await expect(secondKeys.issueKey({ name: "made by second" })).resolves.toBeDefined();
    await root.revokeKey({ keyId: second.key?.keyId ?? "" });
    await expect(secondKeys.issueKey({ name: "after revoke" })).rejects.toMatchObject({
      code: Code.Unauthenticated,
    });
  });

  it("validates IssueKey input with INVALID_ARGUMENT naming the problem", async () => {
    const { keys } = grpcClients(server.grpcAddress, admin);
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
    const { keys } = grpcClients(server.grpcAddress, acmeAdmin);
    const issued = await keys.issueKey({ name: "custom", workspace: "acme", prefix: "acme" });
    expect(issued.secret.startsWith("acme_live_")).toBe(true);
    const decision = await grpcClients(server.grpcAddress).authorize.authorize({ apiKey: issued.secret });
    expect(decision.allowed).toBe(true);
    expect(decision.workspace).toBe("acme");
  });
});
