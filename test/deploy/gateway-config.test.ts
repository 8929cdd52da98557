import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { DEFAULTS } from "../../src/config.js";
import { type AuthFlavour, forwardedRequest } from "../../src/transport/forwarded-request.js";
import { identityHeaders } from "../../src/transport/gateway-answers.js";
import { rateLimitHeaders } from "../../src/transport/rate-limit-headers.js";
import { routeQuery } from "../../src/transport/route-query.js";
import { makeKey, verifiedKey } from "../support/fixtures.js";
import { at, documents, listAt, portOf, resource } from "./deploy-files.js";

// The gateways that ask Keyward over HTTP (Traefik, Envoy's http_service, ingress-nginx), checked
// against Keyward's own code rather than copied names: the endpoints it serves (forwardedRequest),
// the query it accepts (routeQuery), the headers it answers with (identityHeaders, rateLimitHeaders),
// its defaults (src/config.ts) and the Kubernetes Service. test/http/gateway-requests.test.ts sends
// the requests these gateways make.

const HTTP_PORT = portOf(DEFAULTS.KEYWARD_HTTP_LISTEN);
const PREFIX = DEFAULTS.KEYWARD_ENVOY_HEADER_PREFIX;
const CREDENTIALS = DEFAULTS.KEYWARD_CREDENTIAL_HEADERS.split(",");
/** Every identity header Keyward sets for the upstream: a key with every field filled in. */
const IDENTITY = identityHeaders(
  verifiedKey({
    key: makeKey({ scopes: ["orders:read"], ownerId: "team-shop" }).key,
    workspaceSuspended: false,
  }),
  PREFIX,
).map(([name]) => name);
const LIMITED = { rateLimit: { limit: 2, remaining: 1, resetTime: 0 } };
/** The x-ratelimit-* headers of an allowed answer; retry-after comes only with a 429. */
const RATE_LIMIT = rateLimitHeaders(LIMITED).map(([name]) => name);
const RETRY_AFTER = rateLimitHeaders({ ...LIMITED, retryAfterMs: 1 })
  .map(([name]) => name)
  .filter((name) => !RATE_LIMIT.includes(name));
/** Identity and rate-limit headers: what a gateway should copy from Keyward's 200 onto the request. */
const FORWARDED = [...IDENTITY, ...RATE_LIMIT];
/** The header nginx's auth_request flavour adds to a 429 it answers as 403 (src/transport/forward-auth.ts). */
const STATUS_HEADER = `${PREFIX}status`;

const EXT_AUTHZ = "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz";
const HEADER_MUTATION = "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation";

const service = resource("k8s", "Service");
const serviceHost = `${at(service, "metadata", "name")}.${at(service, "metadata", "namespace")}.svc.cluster.local`;
const httpServicePort = at(
  listAt(service, "spec", "ports").find((port) => at(port, "name") === "http"),
  "port",
);

const sorted = (names: unknown[]) => names.map((name) => String(name).toLowerCase()).sort();

/** What Keyward makes of an auth URL: its flavour, once routeQuery has accepted its query. */
function served(url: URL): AuthFlavour {
  const original = {
    "x-forwarded-method": "GET",
    "x-forwarded-uri": "/v1/orders",
    "x-original-method": "GET",
    "x-original-uri": "/v1/orders",
  };
  const request = forwardedRequest(`${url.pathname}${url.search}`, "GET", original);
  if ("error" in request) throw new Error(`${url}: ${request.error}`);
  // An ext-authz query is the original request's; the others carry the route's requirements.
  if (request.flavour !== "ext-authz") {
    expect(routeQuery(url.search.slice(1)), `${url}: Keyward's query parser`).not.toHaveProperty("error");
  }
  return request.flavour;
}

/** Checks an auth URL names Keyward's HTTP listener at one of the given hosts, and returns its flavour. */
function authUrl(address: unknown, hosts: string[]): AuthFlavour {
  const url = new URL(String(address));
  expect(url.protocol, String(address)).toBe("http:");
  expect(hosts, String(address)).toContain(url.hostname);
  expect(Number(url.port), String(address)).toBe(HTTP_PORT);
  return served(url);
}

/** Every string in a parsed document. */
function strings(value: unknown): string[] {
  if (typeof value === "string") return [value];
  if (value === null || typeof value !== "object") return [];
  return Object.values(value).flatMap(strings);
}

describe("every gateway file under deploy/", () => {
  it("has the HTTP gateway examples", () => {
    for (const file of [
      "traefik/dynamic.yaml",
      "traefik/middleware.yaml",
      "envoy/envoy-http.yaml",
      "k8s/ingress-nginx.yaml",
    ]) {
      expect(documents.has(file), file).toBe(true);
    }
  });

  it("names only /authz endpoints Keyward serves, with queries it accepts", () => {
    let named = 0;
    for (const [file, docs] of documents) {
      for (const text of docs.flatMap(strings)) {
        for (const [path] of text.matchAll(/\/authz\/[^\s"']*/g)) {
          named++;
          const flavour = served(new URL(path, "http://keyward"));
          expect(["forward-auth", "auth-request", "ext-authz"], `${file}: ${path}`).toContain(flavour);
        }
      }
    }
    expect(named).toBeGreaterThan(0);
  });

  it("derives the header lists from a key with every identity field set", () => {
    expect(IDENTITY).toEqual([
      `${PREFIX}key-id`,
      `${PREFIX}workspace`,
      `${PREFIX}scopes`,
      `${PREFIX}owner-id`,
    ]);
    expect(RATE_LIMIT.length).toBeGreaterThan(0);
    expect(RETRY_AFTER).toEqual(["retry-after"]);
  });
});

/** The forwardAuth middlewares, the credential-stripping ones and the chains of a Traefik file. */
function traefikChecks(forwardAuths: Map<string, unknown>, strips: Map<string, unknown>, chains: string[][]) {
  expect(forwardAuths.size).toBeGreaterThan(0);
  expect(strips.size).toBeGreaterThan(0);
  for (const [name, config] of forwardAuths) {
    expect(at(config, "trustForwardHeader"), name).toBe(false);
    expect(sorted(listAt(config, "authResponseHeaders")), name).toEqual(sorted(FORWARDED));
  }
  for (const [name, removed] of strips) {
    expect(sorted(removed as string[]), name).toEqual(expect.arrayContaining(sorted(CREDENTIALS)));
    // Removing an identity header after forwardAuth would remove the one Keyward set.
    for (const header of IDENTITY) expect(sorted(removed as string[]), name).not.toContain(header);
  }
  expect(chains.length).toBeGreaterThan(0);
  for (const chain of chains) {
    const auth = chain.findIndex((name) => forwardAuths.has(name));
    const strip = chain.findIndex((name) => strips.has(name));
    expect(auth, chain.join(",")).toBeGreaterThanOrEqual(0);
    expect(strip, `${chain.join(",")}: the credential is stripped after forward auth`).toBeGreaterThan(auth);
  }
}

/** Header names a Traefik headers middleware removes (customRequestHeaders with empty values). */
function removedBy(headers: unknown): string[] {
  const custom = (at(headers, "customRequestHeaders") ?? {}) as Record<string, unknown>;
  return Object.entries(custom)
    .filter(([, value]) => value === "")
    .map(([name]) => name);
}

describe("traefik/dynamic.yaml (file provider)", () => {
  const [config] = documents.get("traefik/dynamic.yaml") ?? [];
  const middlewares = Object.entries((at(config, "http", "middlewares") ?? {}) as Record<string, unknown>);
  const forwardAuths = new Map(
    middlewares
      .filter(([, m]) => at(m, "forwardAuth") !== undefined)
      .map(([n, m]) => [n, at(m, "forwardAuth")]),
  );
  const strips = new Map(
    middlewares
      .filter(([, m]) => removedBy(at(m, "headers")).length > 0)
      .map(([n, m]) => [n, removedBy(at(m, "headers"))]),
  );
  const routers = Object.values((at(config, "http", "routers") ?? {}) as Record<string, unknown>);

  it("asks Keyward's forward-auth endpoint on its HTTP port, one middleware with its own scopes", () => {
    const queries = [...forwardAuths.values()].map((m) => {
      expect(authUrl(at(m, "address"), ["keyward"])).toBe("forward-auth");
      return new URL(String(at(m, "address"))).search;
    });
    expect(queries.some((query) => query.includes("scopes="))).toBe(true);
  });

  it("copies exactly Keyward's identity and rate-limit headers, and strips the credential after forward auth", () => {
    traefikChecks(
      forwardAuths,
      strips,
      routers.map((router) => listAt(router, "middlewares") as string[]),
    );
    const services = (at(config, "http", "services") ?? {}) as Record<string, unknown>;
    for (const router of routers) expect(Object.keys(services)).toContain(at(router, "service"));
  });
});

describe("traefik/middleware.yaml (Kubernetes CRDs)", () => {
  const docs = documents.get("traefik/middleware.yaml") ?? [];
  const middlewares = docs.filter((doc) => at(doc, "kind") === "Middleware");
  const named = (doc: unknown) => `${at(doc, "metadata", "namespace")}/${at(doc, "metadata", "name")}`;
  const forwardAuths = new Map(
    middlewares
      .filter((m) => at(m, "spec", "forwardAuth"))
      .map((m) => [named(m), at(m, "spec", "forwardAuth")]),
  );
  const strips = new Map(
    middlewares
      .filter((m) => removedBy(at(m, "spec", "headers")).length > 0)
      .map((m) => [named(m), removedBy(at(m, "spec", "headers"))]),
  );

  it("uses Traefik's current CRD group", () => {
    for (const doc of docs) expect(at(doc, "apiVersion")).toBe("traefik.io/v1alpha1");
  });

  it("asks the Keyward Service's http port", () => {
    expect(httpServicePort).toBe(HTTP_PORT);
    for (const m of forwardAuths.values())
      expect(authUrl(at(m, "address"), [serviceHost])).toBe("forward-auth");
  });

  it("copies exactly Keyward's headers, and the IngressRoute strips the credential after forward auth", () => {
    const routes = docs
      .filter((doc) => at(doc, "kind") === "IngressRoute")
      .flatMap((route) =>
        listAt(route, "spec", "routes").map((r) =>
          // A Middleware reference without a namespace is the IngressRoute's own namespace.
          listAt(r, "middlewares").map(
            (m) => `${at(m, "namespace") ?? at(route, "metadata", "namespace")}/${at(m, "name")}`,
          ),
        ),
      );
    traefikChecks(forwardAuths, strips, routes);
  });
});

describe("envoy/envoy-http.yaml (ext_authz http_service)", () => {
  const [bootstrap] = documents.get("envoy/envoy-http.yaml") ?? [];
  const manager = at(
    listAt(bootstrap, "static_resources", "listeners")
      .flatMap((listener) => listAt(listener, "filter_chains"))
      .flatMap((chain) => listAt(chain, "filters"))
      .find((filter) => at(filter, "name") === "envoy.filters.network.http_connection_manager"),
    "typed_config",
  );
  const httpFilters = listAt(manager, "http_filters");
  const extAuthzAt = httpFilters.findIndex((filter) => at(filter, "typed_config", "@type") === EXT_AUTHZ);
  const extAuthz = at(httpFilters[extAuthzAt], "typed_config");
  const httpService = at(extAuthz, "http_service");
  const clusters = new Map(listAt(bootstrap, "static_resources", "clusters").map((c) => [at(c, "name"), c]));
  const exact = (list: unknown) => listAt(list, "patterns").map((pattern) => at(pattern, "exact"));

  it("asks /authz/ext-authz on Keyward's HTTP port over HTTP/1.1, and fails closed", () => {
    expect(at(httpFilters.at(-1), "name")).toBe("envoy.filters.http.router");
    const prefix = String(at(httpService, "path_prefix"));
    expect(prefix).toBe("/authz/ext-authz");
    expect(served(new URL(`${prefix}/v1/orders?expand=items`, "http://keyward"))).toBe("ext-authz");
    expect(at(extAuthz, "failure_mode_allow")).toBe(false);
    expect(at(extAuthz, "status_on_error", "code")).toBe("ServiceUnavailable");
    expect(at(extAuthz, "with_request_body")).toBeUndefined();

    const cluster = clusters.get(at(httpService, "server_uri", "cluster"));
    expect(cluster, "the http_service cluster exists").toBeDefined();
    const addresses = listAt(cluster, "load_assignment", "endpoints")
      .flatMap((locality) => listAt(locality, "lb_endpoints"))
      .map((endpoint) => at(endpoint, "endpoint", "address", "socket_address"));
    expect(addresses.length).toBeGreaterThan(0);
    for (const address of addresses) {
      expect(at(address, "port_value")).toBe(HTTP_PORT);
      authUrl(`${at(httpService, "server_uri", "uri")}${prefix}/`, [String(at(address, "address"))]);
    }
    expect(at(cluster, "typed_extension_protocol_options")).toBeUndefined();
    expect(at(cluster, "http2_protocol_options")).toBeUndefined();
  });

  it("sends the credential headers and the client's address, and no route sets context_extensions", () => {
    // ExtAuthz.allowed_headers, or the deprecated http_service.authorization_request.allowed_headers.
    const allowed =
      at(extAuthz, "allowed_headers") ?? at(httpService, "authorization_request", "allowed_headers");
    expect(exact(allowed)).toEqual(expect.arrayContaining([...CREDENTIALS, "x-forwarded-for"]));
    expect(at(manager, "use_remote_address")).toBe(true);
    for (const host of listAt(manager, "route_config", "virtual_hosts")) {
      for (const route of listAt(host, "routes")) {
        // Ignored by http_service ("only applied to a filter configured with a grpc_service").
        expect(
          at(route, "typed_per_filter_config", String(at(httpFilters[extAuthzAt], "name"))),
        ).toBeUndefined();
      }
    }
  });

  it("passes exactly the identity headers upstream and the rate-limit headers to the client", () => {
    const response = at(httpService, "authorization_response");
    expect(sorted(exact(at(response, "allowed_upstream_headers")))).toEqual(sorted(IDENTITY));
    expect(sorted(exact(at(response, "allowed_client_headers_on_success")))).toEqual(sorted(RATE_LIMIT));
    // A denial's headers (src/transport/gateway-answers.ts, deniedAnswer).
    expect(sorted(exact(at(response, "allowed_client_headers")))).toEqual(
      sorted(["www-authenticate", "content-type", ...RATE_LIMIT, ...RETRY_AFTER]),
    );
  });

  it("removes client-sent identity headers before ext_authz, and the credential only after it", () => {
    const mutationAt = httpFilters.findIndex(
      (filter) => at(filter, "typed_config", "@type") === HEADER_MUTATION,
    );
    expect(mutationAt).toBeGreaterThanOrEqual(0);
    expect(mutationAt).toBeLessThan(extAuthzAt);
    const removed = listAt(httpFilters[mutationAt], "typed_config", "mutations", "request_mutations").map(
      (m) => at(m, "remove"),
    );
    expect(sorted(removed)).toEqual(sorted(IDENTITY));
    // The route's request_headers_to_remove is applied by the router, the last filter.
    for (const host of listAt(manager, "route_config", "virtual_hosts")) {
      expect(sorted(listAt(host, "request_headers_to_remove"))).toEqual(sorted(CREDENTIALS));
    }
  });
});

describe("k8s/ingress-nginx.yaml", () => {
  const ingress = resource("k8s", "Ingress");
  const annotation = (name: string) =>
    at(ingress, "metadata", "annotations", `nginx.ingress.kubernetes.io/${name}`);
  const snippet = String(annotation("configuration-snippet"));

  it("asks the Keyward Service's auth-request endpoint, with a method so that X-Original-URI is sent", () => {
    expect(authUrl(annotation("auth-url"), [serviceHost])).toBe("auth-request");
    // ingress-nginx sets X-Original-URI on the auth request only when auth-method is set.
    expect(annotation("auth-method")).toBe("GET");
    expect(at(ingress, "metadata", "namespace")).not.toBe(at(service, "metadata", "namespace"));
  });

  it("copies exactly Keyward's identity and rate-limit headers", () => {
    expect(sorted(String(annotation("auth-response-headers")).split(","))).toEqual(sorted(FORWARDED));
  });

  it("strips the credential before the app, and turns the 403 of a 429 back into a 429", () => {
    for (const header of CREDENTIALS) {
      expect(snippet.toLowerCase()).toContain(`proxy_set_header ${header} "";`);
    }
    for (const header of IDENTITY) expect(snippet.toLowerCase()).not.toContain(`proxy_set_header ${header} `);
    const variable = `$upstream_http_${STATUS_HEADER.replaceAll("-", "_")}`;
    expect(snippet).toContain(variable);
    const handler = /error_page 403 = (@\S+);/.exec(snippet)?.[1];
    expect(handler, "error_page 403 to a named location").toBeDefined();
    expect(String(annotation("server-snippet"))).toContain(`location ${handler} {`);
    // The denial locations are those of deploy/nginx/keyward.conf, which test/proxies runs in nginx.
    const example = readFileSync("deploy/nginx/keyward.conf", "utf8");
    const words = (text: string) => text.replace(/#.*$/gm, "").split(/\s+/).filter(Boolean).join(" ");
    for (const location of String(annotation("server-snippet")).split(/(?=location @)/)) {
      expect(words(example)).toContain(words(location));
    }
    expect(String(annotation("server-snippet"))).toContain("return 429 $keyward_body;");
  });
});
