import type { AddressInfo } from "node:net";
import Fastify from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ordersService } from "../../examples/ts-service/orders-service.js";
import {
  createKeywardClient,
  type KeywardFastifyRequest,
  keywardFastifyHook,
} from "../../src/client/index.js";
import { useServer } from "../support/use-server.js";

// Issue 15: keyward/client's two HTTP guards, each in a real HTTP service on port 0 against a real
// server, called over HTTP: keywardAuth in the example service (examples/ts-service, node:http, as
// Express and Connect run it) and keywardFastifyHook in a Fastify app. Their denials must be what
// Keyward's forward auth answers, byte for byte, and the route's handler must not run for them.

// How a Fastify service types Keyward's answer on its requests.
declare module "fastify" {
  interface FastifyRequest {
    keyward?: KeywardFastifyRequest["keyward"];
  }
}

/** A service whose `GET /orders` needs orders:read and answers `{ orders, workspace, key_id }`. */
interface OrdersService {
  readonly url: string;
  /** Calls that reached the route's handler. */
  handled(): number;
  close(): Promise<void>;
}

/** The example service, with keywardAuth in front of its handler (which it counts here). */
async function exampleService(keywardAddress: string): Promise<OrdersService> {
  const orders = ordersService(keywardAddress);
  let handled = 0;
  // The handler is the one writer of a 200 (the middleware writes only denials and the 503).
  orders.server.on("request", (_request, response) => {
    response.once("finish", () => {
      if (response.statusCode === 200) handled++;
    });
  });
  await new Promise<void>((resolve) => orders.server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(orders.server.address() as AddressInfo).port}/orders`,
    handled: () => handled,
    async close() {
      orders.close();
      await new Promise((resolve) => orders.server.close(resolve));
    },
  };
}

/** A Fastify app with keywardFastifyHook on its route. */
async function fastifyService(keywardAddress: string): Promise<OrdersService> {
  const client = createKeywardClient({ address: keywardAddress, retries: 0 });
  const app = Fastify();
  let handled = 0;
  const readOrders = keywardFastifyHook({ client, scopes: ["orders:read"] });
  app.get("/orders", { onRequest: readOrders }, async (request) => {
    handled++;
    return { orders: [], workspace: request.keyward?.workspace, key_id: request.keyward?.keyId };
  });
  const base = await app.listen({ host: "127.0.0.1", port: 0 });
  return {
    url: `${base}/orders`,
    handled: () => handled,
    async close() {
      await app.close();
      client.close();
    },
  };
}

/** The answer's headers, less those that belong to the connection or the moment. */
function answerHeaders(response: Response): [string, string][] {
  const ignored = new Set(["date", "connection", "keep-alive", "content-length", "transfer-encoding"]);
  return [...response.headers].filter(([name]) => !ignored.has(name)).sort(([a], [b]) => a.localeCompare(b));
}

describe.each([
  ["keywardAuth in the example service (examples/ts-service)", exampleService],
  ["keywardFastifyHook in a Fastify app", fastifyService],
])("%s", (_name, start) => {
  const server = useServer();
  let orders: OrdersService;
  beforeAll(async () => {
    orders = await start(server.grpcAddress);
  });
  afterAll(() => orders.close());

  /** The same request answered by Keyward's forward auth, for the same scopes. */
  const forwardAuth = (headers: Record<string, string>) =>
    fetch(`${server.httpUrl}/authz/forward-auth?scopes=orders:read`, {
      headers: { ...headers, "x-forwarded-method": "GET", "x-forwarded-uri": "/orders" },
    });

  it("lets a key with orders:read through, with Keyward's answer on the request", async () => {
    const admin = server.clients(server.admin);
    const { secret, key } = await admin.keys.issueKey({ name: "reader", scopes: ["orders:read"] });
    const response = await fetch(orders.url, { headers: { "x-api-key": secret } });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ orders: [], workspace: "default", key_id: key?.keyId });
    const bearer = await fetch(orders.url, { headers: { authorization: `Bearer ${secret}` } });
    expect(bearer.status).toBe(200);
    expect(orders.handled()).toBe(2);
  });

  it("answers 401 and 403 exactly as Keyward's forward auth does, without running the handler", async () => {
    const admin = server.clients(server.admin);
    const writer = await admin.keys.issueKey({ name: "writer", scopes: ["orders:write"] });
    const cases: [string, Record<string, string>, number][] = [
      ["no key", {}, 401],
      ["a malformed key", { "x-api-key": "not-a-key" }, 401],
      ["a key without orders:read", { "x-api-key": writer.secret }, 403],
    ];
    const handled = orders.handled();
    for (const [label, headers, status] of cases) {
      const ours = await fetch(orders.url, { headers });
      const theirs = await forwardAuth(headers);
      expect(ours.status, label).toBe(status);
      expect(theirs.status, label).toBe(status);
      expect(answerHeaders(ours), label).toEqual(answerHeaders(theirs));
      expect(await ours.text(), label).toBe(await theirs.text());
    }
    expect(orders.handled()).toBe(handled);
  });

  it("answers 429 with forward auth's headers and details once a key's rate limit is spent", async () => {
    const admin = server.clients(server.admin);
    const free = await admin.keys.issueKey({ name: "free", scopes: ["orders:read"], tier: "free" });
    // A free-tier key: 10 a minute in all, counted by both; the 11th through the guard is a 429.
    for (let i = 0; i < 10; i++)
      expect((await fetch(orders.url, { headers: { "x-api-key": free.secret } })).status).toBe(200);
    const handled = orders.handled();
    const limited = await fetch(orders.url, { headers: { "x-api-key": free.secret } });
    expect(limited.status).toBe(429);
    expect(orders.handled()).toBe(handled);
    type Body = { error: { code: string; message: string; details: Record<string, unknown> } };
    const body = (await limited.json()) as Body;
    expect(body.error.code).toBe("rate_limited");
    expect(body.error.details).toMatchObject({ limit: "rate_limit", limit_value: 10 });
    expect(limited.headers.get("retry-after")).toMatch(/^\d+$/);
    expect(limited.headers.get("x-ratelimit-limit")).toBe("10");
    expect(limited.headers.get("x-ratelimit-remaining")).toBe("0");

    // Forward auth, asked a moment later, differs only in the counts and times.
    const theirs = await forwardAuth({ "x-api-key": free.secret });
    expect(theirs.status).toBe(429);
    const names = (response: Response) => answerHeaders(response).map(([name]) => name);
    expect(names(limited)).toEqual(names(theirs));
    expect(limited.headers.get("content-type")).toBe(theirs.headers.get("content-type"));
    const theirBody = (await theirs.json()) as Body;
    expect({ ...body.error, details: Object.keys(body.error.details).sort() }).toEqual({
      ...theirBody.error,
      details: Object.keys(theirBody.error.details).sort(),
    });
    expect(body.error.details.key_id).toBe(free.key?.keyId);
  });
});

describe.each([
  ["keywardAuth in the example service", exampleService],
  ["keywardFastifyHook in a Fastify app", fastifyService],
])("%s when Keyward cannot be reached", (_name, start) => {
  let orders: OrdersService;
  beforeAll(async () => {
    orders = await start("127.0.0.1:1");
  });
  afterAll(() => orders.close());

  it("fails closed with 503, without running the handler", async () => {
    const response = await fetch(orders.url, { headers: { "x-api-key": "x" } });
    expect(response.status).toBe(503);
    expect(response.headers.get("content-type")).toBe("application/json");
    expect(await response.json()).toEqual({
      error: { code: "unavailable", message: "Keyward cannot be reached" },
    });
    expect(orders.handled()).toBe(0);
  });
});
