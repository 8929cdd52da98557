import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KeyClient } from "../support/clients.js";
import { useServer } from "../support/use-server.js";
import { envoyCheckRequest, envoyClient, expectAllowed, expectDenied } from "./envoy-request.js";

// The route policy file (KEYWARD_POLICY) for routes without keyward.* context_extensions:
// methods, globs, first match wins, public rules, the query string ignored; and the presets the
// issue asked to be expressible.

const GLOBS = `
rules:
  - path: /public/**
    public: true
  - methods: [GET, HEAD]
    path: /v1/*
    scopes: [one:read]
  - methods: [post]
    path: /v1/*
    scopes: [one:write]
  - path: /v2/orders/export
    scopes: [orders:export]
  - path: /v2/**
    scopes: [deep:read]
`;

// Read-only keys may only GET/HEAD; read-write keys may GET/POST/PATCH/DELETE; admins may also manage keys.
const PRESETS = `
- path: /v1/keys/**
  scopes: [api:admin]
- methods: [GET, HEAD]
  path: /v1/**
  scopes: [api:read]
- methods: [POST, PATCH, DELETE]
  path: /v1/**
  scopes: [api:write]
`;

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "keyward-policy-"));
  writeFileSync(join(dir, "globs.yaml"), GLOBS);
  writeFileSync(join(dir, "presets.yaml"), PRESETS);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** A server with the policy file `name`: it issues keys with scopes and checks requests with them. */
function serverWith(name: string) {
  const server = useServer({ env: () => ({ KEYWARD_POLICY: join(dir, name) }) });
  let keys: KeyClient;
  let envoy: ReturnType<typeof envoyClient>;
  beforeAll(() => {
    keys = server.clients(server.admin).keys;
    envoy = server.own(envoyClient(server.grpcAddress));
  });
  return {
    issue: async (scopes: string[]) => (await keys.issueKey({ name: scopes.join(" "), scopes })).secret,
    check: (secret: string | undefined, method: string, path: string) =>
      envoy.check(
        envoyCheckRequest({ method, path, headers: secret === undefined ? {} : { "x-api-key": secret } }),
      ),
  };
}

const globs = serverWith("globs.yaml");
const presets = serverWith("presets.yaml");

describe("matching", () => {
  it("matches methods, case-insensitively in the file", async () => {
    const key = await globs.issue(["one:read", "one:write"]);
    expectAllowed(await globs.check(key, "GET", "/v1/orders"));
    expectAllowed(await globs.check(key, "HEAD", "/v1/orders"));
    expectAllowed(await globs.check(key, "POST", "/v1/orders"));
    expectDenied(await globs.check(key, "PUT", "/v1/orders"), 403, "route_not_allowed");
    const readOnly = await globs.issue(["one:read"]);
    const denied = expectDenied(await globs.check(readOnly, "POST", "/v1/orders"), 403, "insufficient_scope");
    expect(denied.error.details).toMatchObject({ missing_scopes: ["one:write"] });
  });

  it("`*` matches within one segment", async () => {
    const key = await globs.issue(["one:read"]);
    expectAllowed(await globs.check(key, "GET", "/v1/orders"));
    expectDenied(await globs.check(key, "GET", "/v1/orders/7"), 403, "route_not_allowed");
    expectDenied(await globs.check(key, "GET", "/v1"), 403, "route_not_allowed");
  });

  it("`**` matches any depth, and the bare parent", async () => {
    const key = await globs.issue(["deep:read"]);
    for (const path of ["/v2", "/v2/", "/v2/orders", "/v2/orders/7/items/3"]) {
      expectAllowed(await globs.check(key, "GET", path));
    }
    expectDenied(await globs.check(key, "GET", "/v2x"), 403, "route_not_allowed");
    expectDenied(await globs.check(key, "GET", "/v2x/orders"), 403, "route_not_allowed");
  });

  it("the first matching rule wins", async () => {
    const key = await globs.issue(["deep:read"]);
    // /v2/** alone would allow it; the earlier, narrower rule asks for orders:export.
    const denied = expectDenied(
      await globs.check(key, "GET", "/v2/orders/export"),
      403,
      "insufficient_scope",
    );
    expect(denied.error.details).toMatchObject({ required_scopes: ["orders:export"] });
    expectAllowed(await globs.check(await globs.issue(["orders:export"]), "GET", "/v2/orders/export"));
  });

  it("ignores the query string", async () => {
    const key = await globs.issue(["one:read", "deep:read"]);
    expectAllowed(await globs.check(key, "GET", "/v1/orders?next=/a/b/c&limit=5"));
    expectAllowed(await globs.check(key, "GET", "/v2?page=2"));
    expectDenied(await globs.check(key, "GET", "/v1/orders/7?x=1"), 403, "route_not_allowed");
  });

  it("allows a public rule without a key, and adds no identity", async () => {
    const ok = expectAllowed(await globs.check(undefined, "POST", "/public/docs/index.html?lang=en"));
    expect(ok.headers).toEqual([]);
    expectDenied(await globs.check(undefined, "GET", "/v1/orders"), 401, "missing_credential");
  });
});

describe("presets from the issue", () => {
  const METHODS = ["GET", "HEAD", "POST", "PATCH", "DELETE"] as const;
  // What each key may do on /v1/orders and on /v1/keys; the rest is insufficient_scope.
  const CASES = [
    { name: "read-only", scopes: ["api:read"], orders: ["GET", "HEAD"], keys: [] as string[] },
    { name: "read-write", scopes: ["api:read", "api:write"], orders: [...METHODS], keys: [] as string[] },
    {
      name: "admin",
      scopes: ["api:read", "api:write", "api:admin"],
      orders: [...METHODS],
      keys: [...METHODS],
    },
  ];

  it.each(CASES)("$name key", async ({ scopes, orders, keys }) => {
    const key = await presets.issue(scopes);
    for (const method of METHODS) {
      for (const [path, allowed] of [
        ["/v1/orders/7", orders],
        ["/v1/keys/key_123", keys],
      ] as const) {
        const response = await presets.check(key, method, path);
        if (allowed.includes(method)) expectAllowed(response);
        else expectDenied(response, 403, "insufficient_scope");
      }
    }
    // Nothing grants PUT, whatever the key.
    expectDenied(await presets.check(key, "PUT", "/v1/orders/7"), 403, "route_not_allowed");
  });
});
