import { beforeAll, describe, expect, it } from "vitest";
import { DEFAULTS } from "../../src/config.js";
import { at, documents, listAt } from "../deploy/deploy-files.js";
import { ORDERS_POLICY, usePolicyFile } from "../support/policy-file.js";
import { useServer } from "../support/use-server.js";
import { type AuthAnswer, authClient, errorOf } from "./forward-auth-client.js";

// The auth requests Traefik and Envoy really send, header for header, where forward-auth.test.ts
// sends only what each endpoint reads. From their sources:
// - Traefik's forwardAuth (pkg/middlewares/auth/forward.go, writeHeader): a GET to the address with
//   every client header (hop-by-hop ones removed), the X-Forwarded-Port, -Server and X-Real-Ip its
//   entry point set (pkg/middlewares/forwardedheaders), and with trustForwardHeader false its own
//   X-Forwarded-For (the connection's address alone), -Method, -Proto, -Host and -Uri.
// - Envoy's ext_authz http_service (source/extensions/filters/common/ext_authz/ext_authz_http_impl.cc):
//   the original method, path_prefix + the original path and query, Host, Authorization and the
//   allowed_headers only, Content-Length 0 and no body; its HTTP client then sets x-envoy-internal,
//   appends Envoy's own address to x-forwarded-for (AsyncStreamImpl::sendHeaders) and its router
//   x-envoy-expected-rq-timeout-ms (the server_uri timeout).

const PREFIX = DEFAULTS.KEYWARD_ENVOY_HEADER_PREFIX;
const CLIENT = "203.0.113.7";
const ENVOY_ADDRESS = "10.0.0.5";
/** What a browser-ish client sends besides its key. */
const CLIENT_HEADERS = {
  "user-agent": "orders-cli/2.1",
  accept: "application/json",
  "accept-encoding": "gzip, br",
  cookie: "session=abc123",
  "x-request-id": "7f1c2d",
};

/** The request Traefik sends to /authz/forward-auth for a client request to api.example.com. */
function traefik(original: { method: string; uri: string }, client: Record<string, string>, query = "") {
  return {
    method: "GET",
    path: `/authz/forward-auth${query}`,
    headers: {
      ...client,
      host: "keyward:8080",
      "x-forwarded-for": CLIENT,
      "x-forwarded-host": "api.example.com",
      "x-forwarded-method": original.method,
      "x-forwarded-port": "443",
      "x-forwarded-proto": "https",
      "x-forwarded-server": "traefik-5d8c7f",
      "x-forwarded-uri": original.uri,
      "x-real-ip": CLIENT,
    },
  };
}

// deploy/envoy/envoy-http.yaml, read rather than copied: what it sends is what is tested.
const [bootstrap] = documents.get("envoy/envoy-http.yaml") ?? [];
const manager = at(
  bootstrap,
  "static_resources",
  "listeners",
  0,
  "filter_chains",
  0,
  "filters",
  0,
  "typed_config",
);
const extAuthz = at(
  listAt(manager, "http_filters").find((filter) => at(filter, "name") === "envoy.filters.http.ext_authz"),
  "typed_config",
);
const pathPrefix = String(at(extAuthz, "http_service", "path_prefix"));
const timeoutMs = String(
  Number.parseFloat(String(at(extAuthz, "http_service", "server_uri", "timeout"))) * 1000,
);
const allowedHeaders = new Set([
  // Always sent besides Host, :method and :path (ext_authz.proto, allowed_headers).
  "authorization",
  ...listAt(at(extAuthz, "allowed_headers"), "patterns").map((pattern) => String(at(pattern, "exact"))),
]);

/** The request Envoy sends to Keyward for a client request, with envoy-http.yaml. */
function envoy(original: { method: string; uri: string }, client: Record<string, string>, from = CLIENT) {
  const sent = Object.entries(client).filter(([name]) => allowedHeaders.has(name));
  // With use_remote_address Envoy appended the client's address; its HTTP client appends its own.
  const forwardedFor = allowedHeaders.has("x-forwarded-for") ? `${from}, ${ENVOY_ADDRESS}` : ENVOY_ADDRESS;
  return {
    method: original.method,
    path: `${pathPrefix}${original.uri}`,
    headers: {
      ...Object.fromEntries(sent),
      host: "api.example.com",
      "content-length": "0",
      "x-envoy-internal": "true",
      "x-forwarded-for": forwardedFor,
      "x-envoy-expected-rq-timeout-ms": timeoutMs,
    },
  };
}

function identityOf(answer: AuthAnswer): Record<string, unknown> {
  return Object.fromEntries(Object.entries(answer.headers).filter(([name]) => name.startsWith(PREFIX)));
}

const policy = usePolicyFile(ORDERS_POLICY);

describe("the gateways' own requests", () => {
  const server = useServer({ env: () => ({ KEYWARD_POLICY: policy() }) });
  let client: ReturnType<typeof authClient>;
  let reader: { secret: string; keyId: string };
  let writer: string;
  const send = (request: { method: string; path: string; headers: Record<string, string> }) =>
    client.send(request.method, request.path, request.headers);

  beforeAll(async () => {
    const { keys } = server.clients(server.admin);
    const issued = await keys.issueKey({ name: "reader", scopes: ["orders:read"], ownerId: "team-shop" });
    reader = { secret: issued.secret, keyId: issued.key?.keyId ?? "" };
    writer = (await keys.issueKey({ name: "writer", scopes: ["orders:write"] })).secret;
    client = server.own(authClient(server.httpUrl));
  });

  it("envoy-http.yaml is read: its prefix, timeout and allowed headers", () => {
    expect(pathPrefix).toBe("/authz/ext-authz");
    expect(Number(timeoutMs)).toBeGreaterThan(0);
    expect([...allowedHeaders]).toEqual(
      expect.arrayContaining(DEFAULTS.KEYWARD_CREDENTIAL_HEADERS.split(",")),
    );
  });

  it("Traefik: allowed with Keyward's identity, whatever identity headers the client sent along", async () => {
    // Traefik copies every client header into the auth request, forged identity headers included.
    const forged = { [`${PREFIX}key-id`]: "key_forged", [`${PREFIX}scopes`]: "*" };
    const answer = await send(
      traefik(
        { method: "GET", uri: "/v1/orders/7?expand=items" },
        { ...CLIENT_HEADERS, ...forged, "x-api-key": reader.secret },
      ),
    );
    expect(answer.status).toBe(200);
    expect(answer.body).toBe("");
    expect(identityOf(answer)).toEqual({
      [`${PREFIX}key-id`]: reader.keyId,
      [`${PREFIX}workspace`]: "default",
      [`${PREFIX}scopes`]: "orders:read",
      [`${PREFIX}owner-id`]: "team-shop",
    });
  });

  it("Traefik: the middleware's own ?scopes= over the policy, 403 for the wrong key and 401 for none", async () => {
    const original = { method: "GET", uri: "/v1/orders/7" };
    const wrong = await send(
      traefik(original, { ...CLIENT_HEADERS, authorization: `Bearer ${writer}` }, "?scopes=orders:read"),
    );
    expect(wrong.status).toBe(403);
    expect(errorOf(wrong)).toMatchObject({
      code: "insufficient_scope",
      details: { missing_scopes: ["orders:read"] },
    });
    expect(identityOf(wrong)).toEqual({});
    const none = await send(traefik(original, CLIENT_HEADERS, "?scopes=orders:read"));
    expect(none.status).toBe(401);
    expect(none.headers["www-authenticate"]).toBeDefined();
  });

  it("Envoy http_service: the original GET with its query, allowed with Keyward's identity", async () => {
    const answer = await send(
      envoy(
        { method: "GET", uri: "/v1/orders/7?expand=items" },
        { ...CLIENT_HEADERS, "x-api-key": reader.secret },
      ),
    );
    expect(answer.status).toBe(200);
    expect(identityOf(answer)).toMatchObject({ [`${PREFIX}key-id`]: reader.keyId });
  });

  it("Envoy http_service: a POST arrives as POST with content-length 0, decided by the policy for POST", async () => {
    const original = { method: "POST", uri: "/v1/orders" };
    const allowed = await send(envoy(original, { ...CLIENT_HEADERS, authorization: `Bearer ${writer}` }));
    expect(allowed.status).toBe(200);
    expect(allowed.headers.connection).toBe("keep-alive");
    const denied = await send(envoy(original, { ...CLIENT_HEADERS, "x-api-key": reader.secret }));
    expect(denied.status).toBe(403);
    expect(errorOf(denied)).toMatchObject({
      code: "insufficient_scope",
      details: { missing_scopes: ["orders:write"] },
    });
  });
});

describe("the client address behind each gateway (KEYWARD_TRUSTED_PROXIES=2, for Envoy's http_service)", () => {
  const server = useServer({
    env: () => ({ KEYWARD_POLICY: policy(), KEYWARD_TRUSTED_PROXIES: "2" }),
  });
  let client: ReturnType<typeof authClient>;
  let office: string;
  beforeAll(async () => {
    const { keys } = server.clients(server.admin);
    office = (
      await keys.issueKey({ name: "office", scopes: ["orders:read"], allowedCidrs: ["203.0.113.0/24"] })
    ).secret;
    client = server.own(authClient(server.httpUrl));
  });
  const ask = (request: { method: string; path: string; headers: Record<string, string> }) =>
    client.send(request.method, request.path, request.headers);
  const original = { method: "GET", uri: "/v1/orders/1" };

  it("Envoy: x-forwarded-for is client, then Envoy; the second from the right is the client", async () => {
    expect((await ask(envoy(original, { "x-api-key": office }))).status).toBe(200);
    const outside = await ask(envoy(original, { "x-api-key": office }, "198.51.100.9"));
    expect(outside.status).toBe(403);
    expect(errorOf(outside).code).toBe("ip_not_allowed");
  });

  it("Traefik: one entry only, so 2 is one too many and the client is unknown (Traefik needs 1)", async () => {
    const answer = await ask(traefik(original, { "x-api-key": office }));
    expect(answer.status).toBe(403);
    expect(errorOf(answer).code).toBe("ip_not_allowed");
  });
});
