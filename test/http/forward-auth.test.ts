import { beforeAll, describe, expect, it } from "vitest";
import { ORDERS_POLICY, usePolicyFile } from "../support/policy-file.js";
import { useServer } from "../support/use-server.js";
import { authClient, errorOf, type Flavour } from "./forward-auth-client.js";

// Issue 13: the /authz endpoints decide as Envoy Check does (same policy, reasons, bodies and
// identity headers), each reading the original request from where its gateway puts it.

const FLAVOURS: Flavour[] = ["forward-auth", "auth-request", "ext-authz"];
const QUERY_FLAVOURS: Flavour[] = ["forward-auth", "auth-request"];

const policy = usePolicyFile(ORDERS_POLICY);

const server = useServer({ env: () => ({ KEYWARD_POLICY: policy() }) });
let client: ReturnType<typeof authClient>;
let reader: { secret: string; keyId: string };
let writer: string;

beforeAll(async () => {
  const { keys } = server.clients(server.admin);
  const issued = await keys.issueKey({ name: "reader", scopes: ["orders:read"], ownerId: "team-shop" });
  reader = { secret: issued.secret, keyId: issued.key?.keyId ?? "" };
  writer = (await keys.issueKey({ name: "writer", scopes: ["orders:write"] })).secret;
  client = server.own(authClient(server.httpUrl));
});

describe.each(FLAVOURS)("%s", (flavour) => {
  it("passes a valid key with the identity headers, empty body", async () => {
    const answer = await client.ask(flavour, {
      method: "GET",
      uri: "/v1/orders/7?expand=items",
      headers: { "x-api-key": reader.secret },
    });
    expect(answer.status).toBe(200);
    expect(answer.body).toBe("");
    expect(answer.headers).toMatchObject({
      "x-keyward-key-id": reader.keyId,
      "x-keyward-workspace": "default",
      "x-keyward-scopes": "orders:read",
      "x-keyward-owner-id": "team-shop",
    });
    expect(answer.headers["x-ratelimit-limit"]).toBeUndefined();
  });

  it("takes the bearer token as Check does", async () => {
    const answer = await client.ask(flavour, {
      method: "GET",
      uri: "/v1/orders/7",
      headers: { authorization: `Bearer ${reader.secret}` },
    });
    expect(answer.status).toBe(200);
  });

  it("answers no key 401 with www-authenticate and Check's JSON body", async () => {
    const answer = await client.ask(flavour, { method: "GET", uri: "/v1/orders/7" });
    expect(answer.status).toBe(401);
    expect(answer.headers["www-authenticate"]).toBe('Bearer realm="keyward", error="invalid_token"');
    expect(answer.headers["content-type"]).toBe("application/json");
    expect(errorOf(answer)).toMatchObject({
      code: "missing_credential",
      details: { required_scopes: ["orders:read"] },
    });
    // Only nginx drops the body of an auth answer: auth-request repeats it in a header.
    expect(answer.headers["x-keyward-body"]).toBe(flavour === "auth-request" ? answer.body : undefined);
  });

  it("takes the method from where the gateway puts it: the policy asks more of POST /v1/orders", async () => {
    const post = await client.ask(flavour, {
      method: "POST",
      uri: "/v1/orders",
      headers: { "x-api-key": reader.secret },
    });
    expect(post.status).toBe(403);
    expect(errorOf(post)).toMatchObject({
      code: "insufficient_scope",
      message: "API key lacks a required scope: missing orders:write",
      details: { missing_scopes: ["orders:write"], granted_scopes: ["orders:read"] },
    });
    const allowed = await client.ask(flavour, {
      method: "POST",
      uri: "/v1/orders",
      headers: { "x-api-key": writer },
    });
    expect(allowed.status).toBe(200);
  });

  it("takes the path from where the gateway puts it: a public route passes without a key", async () => {
    expect((await client.ask(flavour, { method: "GET", uri: "/v1/status" })).status).toBe(200);
    // No rule matches and the default denies.
    const other = await client.ask(flavour, {
      method: "GET",
      uri: "/v1/payments",
      headers: { "x-api-key": reader.secret },
    });
    expect(other.status).toBe(403);
    expect(errorOf(other).code).toBe("route_not_allowed");
  });

  it("refuses a key in the original query string, as Check does", async () => {
    const answer = await client.ask(flavour, { method: "GET", uri: `/v1/orders/7?api_key=${reader.secret}` });
    expect(answer.status).toBe(401);
    expect(errorOf(answer).code).toBe("credential_in_query");
  });

  it("denies a revoked key on the very next request", async () => {
    const { keys } = server.clients(server.admin);
    const issued = await keys.issueKey({ name: `doomed ${flavour}`, scopes: ["orders:read"] });
    const ask = () =>
      client.ask(flavour, { method: "GET", uri: "/v1/orders/1", headers: { "x-api-key": issued.secret } });
    expect((await ask()).status).toBe(200);
    expect((await ask()).status).toBe(200); // its answer is now kept
    await keys.revokeKey({ keyId: issued.key?.keyId ?? "" });
    const revoked = await ask();
    expect(revoked.status).toBe(401);
    expect(errorOf(revoked).code).toBe("key_revoked");
  });
});

describe.each(QUERY_FLAVOURS)("%s with requirements on the auth URL", (flavour) => {
  it("asks for the scopes given in ?scopes=, over the policy file", async () => {
    const answer = await client.ask(flavour, {
      method: "GET",
      uri: "/v1/orders/7",
      query: "scopes=orders:read,orders:write",
      headers: { "x-api-key": reader.secret },
    });
    expect(answer.status).toBe(403);
    expect(errorOf(answer)).toMatchObject({
      code: "insufficient_scope",
      details: { required_scopes: ["orders:read", "orders:write"], missing_scopes: ["orders:write"] },
    });
    // A path no rule matches, allowed by the route's own requirements.
    const own = await client.ask(flavour, {
      method: "DELETE",
      uri: "/v1/payments/3",
      query: "scopes=orders%3Awrite",
      headers: { "x-api-key": writer },
    });
    expect(own.status).toBe(200);
  });

  it("passes ?public=true without a key", async () => {
    const answer = await client.ask(flavour, { method: "GET", uri: "/v1/payments", query: "public=true" });
    expect(answer.status).toBe(200);
    expect(answer.headers["x-keyward-key-id"]).toBeUndefined();
  });

  it("checks ?workspace= and ?class=", async () => {
    const workspace = await client.ask(flavour, {
      method: "GET",
      uri: "/v1/x",
      query: "workspace=other",
      headers: { "x-api-key": reader.secret },
    });
    expect(errorOf(workspace).code).toBe("key_not_found");
    const { keys } = server.clients(server.admin);
    const classed = (await keys.issueKey({ name: "batch only", classes: ["batch"] })).secret;
    const klass = await client.ask(flavour, {
      method: "GET",
      uri: "/v1/x",
      query: "class=realtime",
      headers: { "x-api-key": classed },
    });
    expect(errorOf(klass).code).toBe("class_not_allowed");
  });

  it.each([
    ["unknown parameter", "scope=orders:read", 'unknown parameter "scope"'],
    ["repeated parameter", "scopes=a:b&scopes=c:d", "given twice"],
    ["bad scope", "scopes=Orders%20Read", "query parameter scopes"],
    ["bad public", "public=yes", "public: true or false"],
    ["bad cost", "cost=0.5", "query parameter cost"],
    ["too many parameters", "a&b&c&d&e&f", "at most 5 parameters"],
    ["oversized value", `class=${"c".repeat(300)}`, "at most 256 characters"],
    ["broken encoding", "scopes=%E0%A4%A", "percent-encoding"],
  ])("answers a %s 400 naming it", async (_, query, message) => {
    const answer = await client.ask(flavour, {
      method: "GET",
      uri: "/v1/orders/7",
      query,
      headers: { "x-api-key": reader.secret },
    });
    expect(answer.status).toBe(400);
    expect(errorOf(answer).code).toBe("invalid_argument");
    expect(errorOf(answer).message).toContain(message);
  });
});

describe("bad or missing forwarded headers", () => {
  it.each([
    ["forward-auth", { "x-forwarded-uri": "/v1/orders/7" }, "x-forwarded-method"],
    ["forward-auth", { "x-forwarded-method": "GET" }, "x-forwarded-uri"],
    ["forward-auth", { "x-forwarded-method": "G E T", "x-forwarded-uri": "/" }, "x-forwarded-method"],
    ["forward-auth", { "x-forwarded-method": "GET", "x-forwarded-uri": "v1/orders" }, "x-forwarded-uri"],
    // nginx's headers are not Traefik's: each endpoint reads its own.
    ["forward-auth", { "x-original-method": "GET", "x-original-uri": "/v1/orders/7" }, "x-forwarded-method"],
    ["auth-request", { "x-forwarded-method": "GET", "x-forwarded-uri": "/v1/orders/7" }, "x-original-method"],
    ["auth-request", { "x-original-method": "GET" }, "x-original-uri"],
  ])("%s with %j: 400 naming %s", async (endpoint, headers, named) => {
    const answer = await client.send("GET", `/authz/${endpoint}`, { ...headers, "x-api-key": reader.secret });
    expect(answer.status).toBe(400);
    expect(errorOf(answer)).toMatchObject({ code: "invalid_argument" });
    expect(errorOf(answer).message).toContain(`header ${named} is missing or invalid`);
  });

  it("answers an unknown /authz endpoint 404 and leaves other paths to the RPC handler", async () => {
    const unknown = await client.send("GET", "/authz/traefik", {});
    expect(unknown.status).toBe(404);
    expect(errorOf(unknown).code).toBe("not_found");
    expect((await client.send("GET", "/healthz", {})).status).toBe(200);
  });

  it("ignores a body sent with the original method (Envoy), keeping the connection", async () => {
    const answer = await client.send(
      "POST",
      "/authz/ext-authz/v1/orders",
      { "x-api-key": writer, "content-type": "application/json" },
      JSON.stringify({ item: "book" }),
    );
    expect(answer.status).toBe(200);
    expect(answer.headers.connection).toBe("keep-alive");
  });

  it("does not read a large body: answered, and the connection closed", async () => {
    const answer = await client.send(
      "POST",
      "/authz/ext-authz/v1/orders",
      { "x-api-key": writer },
      "x".repeat(200_000),
    );
    expect(answer.status).toBe(200);
    expect(answer.headers.connection).toBe("close");
  });
});
