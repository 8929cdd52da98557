import type { AddressInfo } from "node:net";
import { createServer } from "node:net";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ordersService } from "../../examples/ts-service/orders-service.js";
import { createKeywardClient } from "../../src/client/index.js";
import { Reason } from "../../src/gen/keyward/v1/key_pb.js";
import { startTestServer } from "../support/start-server.js";
import { useServer } from "../support/use-server.js";

// Issue 15: keyward/client against a real server: the typed client over grpc-js, its retry policy, and
// the keywardAuth middleware in the example HTTP service (examples/ts-service), whose denials must be
// what Keyward's forward auth answers, byte for byte.

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
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
    port = (probe.address() as AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
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

describe("keywardAuth in the example service (examples/ts-service)", () => {
  const server = useServer();
  let orders: ReturnType<typeof ordersService>;
  let url: string;
  beforeAll(async () => {
    orders = ordersService(server.grpcAddress);
    await new Promise<void>((resolve) => orders.server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(orders.server.address() as AddressInfo).port}/orders`;
  });
  afterAll(async () => {
    orders.close();
    await new Promise((resolve) => orders.server.close(resolve));
  });

  /** The same request answered by Keyward's forward auth, for the same scopes. */
  const forwardAuth = (headers: Record<string, string>) =>
    fetch(`${server.httpUrl}/authz/forward-auth?scopes=orders:read`, {
      headers: { ...headers, "x-forwarded-method": "GET", "x-forwarded-uri": "/orders" },
    });

  it("lets a key with orders:read through, with Keyward's answer on the request", async () => {
    const admin = server.clients(server.admin);
    const { secret, key } = await admin.keys.issueKey({ name: "reader", scopes: ["orders:read"] });
    const response = await fetch(url, { headers: { "x-api-key": secret } });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ orders: [], workspace: "default", key_id: key?.keyId });
    const bearer = await fetch(url, { headers: { authorization: `Bearer ${secret}` } });
    expect(bearer.status).toBe(200);
  });

  it("answers a denial exactly as Keyward's forward auth does: 401, 403 and 429", async () => {
    const admin = server.clients(server.admin);
    const writer = await admin.keys.issueKey({ name: "writer", scopes: ["orders:write"] });
    const free = await admin.keys.issueKey({ name: "free", scopes: ["orders:read"], tier: "free" });
    const cases: [string, Record<string, string>][] = [
      ["no key", {}],
      ["a malformed key", { "x-api-key": "not-a-key" }],
      ["a key without orders:read", { "x-api-key": writer.secret }],
    ];
    for (const [label, headers] of cases) {
      const ours = await fetch(url, { headers });
      const theirs = await forwardAuth(headers);
      expect(ours.status, label).toBe(theirs.status);
      expect(await ours.text(), label).toBe(await theirs.text());
      for (const name of ["content-type", "www-authenticate"])
        expect(ours.headers.get(name), `${label}: ${name}`).toBe(theirs.headers.get(name));
    }
    // A free-tier key: 10 a minute in all, counted by both; the 11th through the middleware is a 429.
    for (let i = 0; i < 10; i++) await fetch(url, { headers: { "x-api-key": free.secret } });
    const limited = await fetch(url, { headers: { "x-api-key": free.secret } });
    expect(limited.status).toBe(429);
    const body = (await limited.json()) as { error: { code: string; details: Record<string, unknown> } };
    expect(body.error.code).toBe("rate_limited");
    expect(body.error.details).toMatchObject({ limit: "rate_limit", limit_value: 10 });
    expect(limited.headers.get("retry-after")).toMatch(/^\d+$/);
    expect(limited.headers.get("x-ratelimit-limit")).toBe("10");
    const theirs = await forwardAuth({ "x-api-key": free.secret });
    expect(theirs.status).toBe(429);
    expect(Object.keys(((await theirs.json()) as typeof body).error.details).sort()).toEqual(
      Object.keys(body.error.details).sort(),
    );
  });

  it("fails closed with 503 when Keyward cannot be reached", async () => {
    const unreachable = ordersService("127.0.0.1:1");
    await new Promise<void>((resolve) => unreachable.server.listen(0, "127.0.0.1", resolve));
    try {
      const port = (unreachable.server.address() as AddressInfo).port;
      const response = await fetch(`http://127.0.0.1:${port}/orders`, { headers: { "x-api-key": "x" } });
      expect(response.status).toBe(503);
      expect(await response.json()).toEqual({
        error: { code: "unavailable", message: "Keyward cannot be reached" },
      });
    } finally {
      unreachable.close();
      await new Promise((resolve) => unreachable.server.close(resolve));
    }
  });
});
