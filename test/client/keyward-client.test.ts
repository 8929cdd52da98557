import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createKeywardClient } from "../../src/client/index.js";
import { Reason } from "../../src/gen/keyward/v1/key_pb.js";
import { freePort } from "../support/free-port.js";
import { startTestServer } from "../support/start-server.js";
import { useServer } from "../support/use-server.js";

// Issue 15: keyward/client against a real server: the typed client over grpc-js and its retry policy
// (its HTTP guards, keywardAuth and keywardFastifyHook, are in http-guards.test.ts).

describe("createKeywardClient", () => {
  const server = useServer();

  it("is what the package exports as keyward/client", async () => {
    const exported = await import("keyward/client");
    expect(Object.keys(exported).sort()).toEqual(
      Object.keys(await import("../../src/client/index.js")).sort(),
    );
  });

  it("authorizes, and manages keys with an admin key", async () => {
    const admin = createKeywardClient({ address: server.grpcAddress, adminKey: server.admin });
    const anonymous = createKeywardClient({ address: server.grpcAddress });
    try {
      const issued = await admin.keys.issueKey({ name: "reader", scopes: ["orders:read"] });
      const allowed = await anonymous.authorize.authorize({
        apiKey: issued.secret,
        requiredScopes: ["orders:read"],
      });
      expect(allowed).toMatchObject({ allowed: true, keyId: issued.key?.keyId, workspace: "default" });
      const denied = await anonymous.authorize.authorize({
        apiKey: issued.secret,
        requiredScopes: ["orders:write"],
      });
      expect(denied).toMatchObject({ allowed: false, reason: Reason.INSUFFICIENT_SCOPE, httpStatus: 403 });
      // Management without the admin key: refused, and not retried (only UNAVAILABLE is).
      await expect(anonymous.keys.getKey({ keyId: issued.key?.keyId ?? "" })).rejects.toMatchObject({
        code: grpc.status.UNAUTHENTICATED,
      });
    } finally {
      admin.close();
      anonymous.close();
    }
  });
});

describe("a call while Keyward restarts", () => {
  let port: number;
  beforeAll(async () => {
    port = await freePort();
  });
  let keyward: Awaited<ReturnType<typeof startTestServer>> | undefined;
  afterAll(async () => keyward?.stop());

  it("is retried after UNAVAILABLE, with backoff, within its deadline, and then answered", async () => {
    const client = createKeywardClient({
      address: `127.0.0.1:${port}`,
      authorizeTimeoutMs: 5000,
      retries: 8,
    });
    try {
      // Nothing listens yet: the first attempts fail UNAVAILABLE (connection refused).
      const call = client.authorize.authorize({ apiKey: "" });
      await new Promise((resolve) => setTimeout(resolve, 100));
      keyward = await startTestServer({ env: { KEYWARD_LISTEN: `127.0.0.1:${port}` } });
      expect(await call).toMatchObject({ allowed: false, reason: Reason.MISSING_CREDENTIAL });
    } finally {
      client.close();
    }
  });

  it("fails UNAVAILABLE once its retries are spent", async () => {
    const client = createKeywardClient({ address: "127.0.0.1:1", retries: 2 });
    try {
      await expect(client.authorize.authorize({ apiKey: "" })).rejects.toMatchObject({
        code: grpc.status.UNAVAILABLE,
      });
    } finally {
      client.close();
    }
  });
});
