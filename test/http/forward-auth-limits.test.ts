import { beforeAll, describe, expect, it } from "vitest";
import { useRawDatabase } from "../support/raw-sql.js";
import { useServer } from "../support/use-server.js";
import { authClient, errorOf, rawExchange } from "./forward-auth-client.js";

// Issue 13: what the /authz endpoints answer beyond a plain decision — rate limits (and nginx's 429
// mapping), the client address for allowed CIDRs, a store outage, and header blocks too big to read.

const ROUTE = "scopes=orders:read";
const minute = { seconds: 60n };

describe("rate limits", () => {
  const server = useServer();
  let client: ReturnType<typeof authClient>;
  const limited = async () => {
    const { keys } = server.clients(server.admin);
    return (
      await keys.issueKey({
        name: "limited",
        scopes: ["orders:read"],
        rateLimit: { limit: 2n, window: minute },
      })
    ).secret;
  };
  beforeAll(() => {
    client = server.own(authClient(server.httpUrl));
  });

  it("forward-auth: x-ratelimit-* on allowed answers, then 429 with retry-after", async () => {
    const secret = await limited();
    const ask = () =>
      client.ask("forward-auth", {
        method: "GET",
        uri: "/v1/orders",
        query: ROUTE,
        headers: { "x-api-key": secret },
      });
    const first = await ask();
    expect(first.status).toBe(200);
    expect(first.headers).toMatchObject({ "x-ratelimit-limit": "2", "x-ratelimit-remaining": "1" });
    expect((await ask()).headers["x-ratelimit-remaining"]).toBe("0");
    const denied = await ask();
    expect(denied.status).toBe(429);
    expect(Number(denied.headers["retry-after"])).toBeGreaterThan(0);
    expect(errorOf(denied)).toMatchObject({ code: "rate_limited", details: { limit: "rate_limit" } });
  });

  it("auth-request: 429 goes as 403 with x-keyward-status: 429 and retry-after (nginx would make it 500)", async () => {
    const secret = await limited();
    const ask = () =>
      client.ask("auth-request", {
        method: "GET",
        uri: "/v1/orders",
        query: ROUTE,
        headers: { "x-api-key": secret },
      });
    expect((await ask()).status).toBe(200);
    expect((await ask()).status).toBe(200);
    const denied = await ask();
    expect(denied.status).toBe(403);
    expect(denied.headers["x-keyward-status"]).toBe("429");
    expect(Number(denied.headers["retry-after"])).toBeGreaterThan(0);
    expect(errorOf(denied).code).toBe("rate_limited");
    // nginx drops an auth answer's body: it comes in a header as well, for error_page to send.
    expect(denied.headers["x-keyward-body"]).toBe(denied.body);
    // A real 403 carries no such header.
    const scope = await client.ask("auth-request", {
      method: "GET",
      uri: "/v1/orders",
      query: "scopes=orders:write",
      headers: { "x-api-key": secret },
    });
    expect(scope.status).toBe(403);
    expect(scope.headers["x-keyward-status"]).toBeUndefined();
  });
});

describe.each([
  ["trusting no proxy (the default)", {}, { "10.1.2.3": false, "192.168.1.1, 10.1.2.3": false, none: false }],
  [
    "with KEYWARD_TRUSTED_PROXIES=1 (the gateway)",
    { KEYWARD_TRUSTED_PROXIES: "1" },
    { "10.1.2.3": true, "10.1.2.3, 192.168.1.1": false, "192.168.1.1, 10.1.2.3": true, none: false },
  ],
])("x-forwarded-for %s", (_, env, cases) => {
  const server = useServer({ env });
  let client: ReturnType<typeof authClient>;
  let secret: string;
  beforeAll(async () => {
    const { keys } = server.clients(server.admin);
    secret = (await keys.issueKey({ name: "office", scopes: ["orders:read"], allowedCidrs: ["10.0.0.0/8"] }))
      .secret;
    client = server.own(authClient(server.httpUrl));
  });

  it.each(Object.entries(cases))("%s: allowed %s", async (forwardedFor, allowed) => {
    const headers: Record<string, string> = { "x-api-key": secret };
    if (forwardedFor !== "none") headers["x-forwarded-for"] = forwardedFor;
    for (const flavour of ["forward-auth", "ext-authz"] as const) {
      const answer = await client.ask(flavour, {
        method: "GET",
        uri: "/v1/orders",
        ...(flavour === "forward-auth" && { query: ROUTE }),
        headers,
      });
      if (flavour === "ext-authz") {
        // No policy file and the default denies: the route is refused before the address is looked at.
        expect(errorOf(answer).code).toBe("route_not_allowed");
        continue;
      }
      expect(answer.status).toBe(allowed ? 200 : 403);
      if (!allowed) expect(errorOf(answer).code).toBe("ip_not_allowed");
    }
  });
});

describe("store outage", () => {
  const server = useServer();
  const raw = useRawDatabase(server);
  let client: ReturnType<typeof authClient>;
  beforeAll(() => {
    client = server.own(authClient(server.httpUrl));
  });

  it("answers 503 with a JSON body for an uncached key, so that the gateway fails closed, and recovers", async () => {
    const { keys } = server.clients(server.admin);
    const uncached = (await keys.issueKey({ name: "never asked", scopes: ["orders:read"] })).secret;
    const ask = () =>
      client.ask("forward-auth", {
        method: "GET",
        uri: "/v1/orders",
        query: ROUTE,
        headers: { "x-api-key": uncached },
      });
    await raw.exec("ALTER TABLE api_keys RENAME TO api_keys_away");
    try {
      const answer = await ask();
      expect(answer.status).toBe(503);
      expect(errorOf(answer)).toEqual({
        code: "unavailable",
        message: "the key store is unavailable; retry later",
      });
      expect(answer.body).not.toContain("at ");
    } finally {
      await raw.exec("ALTER TABLE api_keys_away RENAME TO api_keys");
    }
    expect((await ask()).status).toBe(200);
  });
});

describe("header blocks too big to read", () => {
  const server = useServer();

  const head = (path: string, headers: string[]) =>
    `GET ${path} HTTP/1.1\r\nhost: keyward\r\nx-forwarded-method: GET\r\nx-forwarded-uri: /v1/orders\r\n${headers.join("\r\n")}\r\n\r\n`;

  it("answers 1,000 headers 431 without deciding, and keeps serving", async () => {
    const many = Array.from({ length: 1000 }, (_, i) => `x-h${i}: 1`);
    const answer = await rawExchange(server.httpUrl, head("/authz/forward-auth?public=true", many));
    expect(answer).toMatch(/^HTTP\/1\.1 431 /);
    expect(answer).toContain("at most 1000 headers");
    const after = await rawExchange(server.httpUrl, head("/authz/forward-auth?public=true", []));
    expect(after).toMatch(/^HTTP\/1\.1 200 /);
  });

  it.each([
    ["one 60 KB header", [`x-big: ${"a".repeat(60 * 1024)}`]],
    ["60 KB in 600 headers", Array.from({ length: 600 }, (_, i) => `x-h${i}: ${"b".repeat(100)}`)],
  ])("answers %s 431 (Node's header cap) without a crash", async (_, headers) => {
    const answer = await rawExchange(server.httpUrl, head("/authz/forward-auth?public=true", headers));
    expect(answer).toMatch(/^HTTP\/1\.1 431 /);
    const after = await rawExchange(server.httpUrl, head("/authz/forward-auth?public=true", []));
    expect(after).toMatch(/^HTTP\/1\.1 200 /);
  });
});
