import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { useServer } from "../support/use-server.js";
import { envoyCheckRequest, envoyClient, expectAllowed, expectDenied } from "./envoy-request.js";

// Where a route's requirements come from: the route's context_extensions (keyward.*) win, else the
// first matching policy rule, else KEYWARD_DEFAULT_ROUTE_POLICY. And what a misconfigured route gets.

const POLICY = `
rules:
  - path: /v1/status
    public: true
  - methods: [GET]
    path: /v1/orders/**
    scopes: [orders:read]
`;

let dir: string;
let envoy: ReturnType<typeof envoyClient>;
let permissiveEnvoy: ReturnType<typeof envoyClient>;
let reader: string;
let writer: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "keyward-policy-"));
  writeFileSync(join(dir, "policy.yaml"), POLICY);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const withPolicy = useServer({ env: () => ({ KEYWARD_POLICY: join(dir, "policy.yaml") }) });
const permissive = useServer({ env: { KEYWARD_DEFAULT_ROUTE_POLICY: "allow-authenticated" } });

beforeAll(async () => {
  const { keys } = withPolicy.clients(withPolicy.admin);
  reader = (await keys.issueKey({ name: "reader", scopes: ["orders:read"] })).secret;
  writer = (await keys.issueKey({ name: "writer", scopes: ["orders:write"] })).secret;
  envoy = withPolicy.own(envoyClient(withPolicy.grpcAddress));
  permissiveEnvoy = permissive.own(envoyClient(permissive.grpcAddress));
});

const check = (secret: string | undefined, method: string, path: string, ext: Record<string, string> = {}) =>
  envoy.check(
    envoyCheckRequest({
      method,
      path,
      headers: secret === undefined ? {} : { "x-api-key": secret },
      contextExtensions: ext,
    }),
  );

describe("precedence", () => {
  it("context_extensions win over the policy file", async () => {
    // The policy lets an orders:read key GET /v1/orders/…; the route asks for more.
    const stricter = await check(reader, "GET", "/v1/orders/7", { "keyward.scopes": "orders:write" });
    expect(expectDenied(stricter, 403, "insufficient_scope").error.details).toMatchObject({
      required_scopes: ["orders:write"],
    });
    // The policy says public; the route requires a key.
    expectDenied(
      await check(undefined, "GET", "/v1/status", { "keyward.scopes": "orders:read" }),
      401,
      "missing_credential",
    );
    // No policy rule matches (default deny), yet the route says what it needs.
    expectAllowed(await check(writer, "POST", "/v1/payments", { "keyward.scopes": "orders:write" }));
    // keyward.public alone is a route requirement too: no scopes, any valid key.
    expectAllowed(await check(writer, "GET", "/v1/orders/7", { "keyward.public": "false" }));
  });

  it("uses the policy file when the route has no keyward.* extension", async () => {
    const others = { route: "orders", team: "shop" };
    expectAllowed(await check(reader, "GET", "/v1/orders/7?expand=items", others));
    const denied = expectDenied(
      await check(writer, "GET", "/v1/orders/7", others),
      403,
      "insufficient_scope",
    );
    expect(denied.error.details).toMatchObject({
      required_scopes: ["orders:read"],
      missing_scopes: ["orders:read"],
    });
    expectAllowed(await check(undefined, "GET", "/v1/status", others));
  });

  it("denies what no rule matches under the default deny, even for a valid key", async () => {
    expectDenied(await check(reader, "DELETE", "/v1/orders/7"), 403, "route_not_allowed");
    expectDenied(await check(reader, "GET", "/v2/orders"), 403, "route_not_allowed");
  });

  it("lets any valid key through under allow-authenticated when nothing matches", async () => {
    const { keys } = permissive.clients(permissive.admin);
    const { secret } = await keys.issueKey({ name: "no scopes" });
    const request = (headers: Record<string, string>) =>
      permissiveEnvoy.check(envoyCheckRequest({ method: "PUT", path: "/anything/at/all", headers }));
    expectAllowed(await request({ authorization: `Bearer ${secret}` }));
    expectDenied(await request({}), 401, "missing_credential");
    expectDenied(await request({ "x-api-key": "garbage" }), 401, "invalid_format");
  });
});

describe("misconfigured routes and odd requests", () => {
  it.each(["NOT A SCOPE", "orders:read, Orders:Write"])(
    "answers INVALID_ARGUMENT naming a bad keyward.scopes (%s)",
    async (scopes) => {
      const result = await envoy.result(
        envoyCheckRequest({
          headers: { "x-api-key": reader },
          contextExtensions: { "keyward.scopes": scopes },
        }),
      );
      expect(result).toMatchObject({ ok: false, code: grpc.status.INVALID_ARGUMENT });
      if (result.ok) return;
      expect(result.details).toContain("keyward.scopes");
      expect(result.details).toContain(scopes.includes(",") ? "Orders:Write" : "NOT A SCOPE");
      expect(result.details).not.toContain(reader);
    },
  );

  it("answers a CheckRequest without attributes with a CheckResponse, not an error", async () => {
    // Nothing names a route: the default decides. Deny refuses the route, allow-authenticated asks for a key.
    expectDenied(await envoy.check({}), 403, "route_not_allowed");
    expectDenied(await permissiveEnvoy.check({}), 401, "missing_credential");
    expectDenied(await permissiveEnvoy.check({ attributes: {} }), 401, "missing_credential");
  });
});
