import { describe, expect, it } from "vitest";
import {
  type CheckInput,
  type CheckSettings,
  decideCheck,
  RouteConfigError,
} from "../../src/domain/check-request.js";
import { compilePolicy, MAX_ROUTE_PATH_LENGTH, type RoutePolicy } from "../../src/domain/route-policy.js";
import { FIXTURE_NOW, memoryResolver } from "../support/fixtures.js";

function input(overrides: Partial<CheckInput> & { headers?: Record<string, string> } = {}): CheckInput {
  const headers = overrides.headers ?? {};
  return {
    method: "GET",
    path: "/v1/orders",
    header: (name) => headers[name],
    contextExtensions: {},
    clientIp: undefined,
    ...overrides,
  };
}

const policy = (() => {
  const compiled = compilePolicy([{ methods: ["GET"], path: "/v1/**", scopes: ["orders:read"] }]);
  if ("error" in compiled) throw new Error(compiled.error);
  return compiled.policy;
})();

function settings(
  overrides: Partial<CheckSettings> = {},
  current: RoutePolicy | undefined = policy,
): CheckSettings {
  return {
    credentialHeaders: ["x-api-key", "authorization"],
    policy: () => current,
    defaultRoute: "deny",
    ...overrides,
  };
}

describe("decideCheck", () => {
  it("uses context_extensions before the policy file, and the policy before the default", async () => {
    const resolver = memoryResolver();
    const key = resolver.add({ scopes: ["orders:read"] });
    const headers = { "x-api-key": key };
    const byPolicy = await decideCheck(input({ headers }), settings(), resolver, FIXTURE_NOW);
    expect(byPolicy.decision.reason).toBe("allowed");
    expect(byPolicy.credentialHeader).toBe("x-api-key");
    const byRoute = await decideCheck(
      input({ headers, contextExtensions: { "keyward.scopes": "orders:read, orders:write" } }),
      settings(),
      resolver,
      FIXTURE_NOW,
    );
    expect(byRoute.decision).toMatchObject({ reason: "insufficient_scope", missingScopes: ["orders:write"] });
    const unmatched = await decideCheck(
      input({ headers, method: "POST" }),
      settings(),
      resolver,
      FIXTURE_NOW,
    );
    expect(unmatched.decision.reason).toBe("route_not_allowed");
    const lenient = await decideCheck(
      input({ headers, method: "POST" }),
      settings({ defaultRoute: "allow-authenticated" }),
      resolver,
      FIXTURE_NOW,
    );
    expect(lenient.decision.reason).toBe("allowed");
  });

  it("allows a public route without looking at credentials", async () => {
    const resolver = memoryResolver();
    const result = await decideCheck(
      input({ path: "/healthz?api_key=whatever", contextExtensions: { "keyward.public": "true" } }),
      settings(),
      resolver,
      FIXTURE_NOW,
    );
    expect(result).toMatchObject({ public: true, decision: { reason: "allowed" } });
    expect(resolver.calls).toBe(0);
  });

  it("refuses a key in the query string, by parameter name or by its shape", async () => {
    const resolver = memoryResolver();
    const key = resolver.add({ scopes: ["orders:read"] });
    for (const path of [
      `/v1/orders?api_key=${key}`,
      `/v1/orders?token=${key}`,
      "/v1/orders?access_token=abc",
    ]) {
      const result = await decideCheck(
        input({ path, headers: { "x-api-key": key } }),
        settings(),
        resolver,
        FIXTURE_NOW,
      );
      expect(result.decision.reason, path).toBe("credential_in_query");
    }
    const harmless = await decideCheck(
      input({ path: "/v1/orders?key=color&page=2", headers: { "x-api-key": key } }),
      settings(),
      resolver,
      FIXTURE_NOW,
    );
    expect(harmless.decision.reason).toBe("allowed");
  });

  it("reads the configured credential headers in order, Bearer only from authorization", async () => {
    const resolver = memoryResolver();
    const key = resolver.add({ scopes: ["orders:read"] });
    const custom = settings({ credentialHeaders: ["x-custom-key", "authorization"] });
    expect(
      (await decideCheck(input({ headers: { "x-api-key": key } }), custom, resolver, FIXTURE_NOW)).decision
        .reason,
    ).toBe("missing_credential");
    const viaCustom = await decideCheck(
      input({ headers: { "x-custom-key": key } }),
      custom,
      resolver,
      FIXTURE_NOW,
    );
    expect(viaCustom).toMatchObject({ credentialHeader: "x-custom-key", decision: { reason: "allowed" } });
    const viaBearer = await decideCheck(
      input({ headers: { authorization: `Bearer ${key}` } }),
      custom,
      resolver,
      FIXTURE_NOW,
    );
    expect(viaBearer.credentialHeader).toBe("authorization");
  });

  it("denies a path too long to match against the policy, even when the default would allow it", async () => {
    const resolver = memoryResolver();
    const headers = { "x-api-key": resolver.add({ scopes: ["orders:read"] }) };
    const lenient = settings({ defaultRoute: "allow-authenticated" });
    const longest = `/v1/${"a".repeat(MAX_ROUTE_PATH_LENGTH - 4)}`;
    const fits = await decideCheck(input({ headers, path: longest }), lenient, resolver, FIXTURE_NOW);
    expect(fits.decision.reason).toBe("allowed");
    const over = await decideCheck(input({ headers, path: `${longest}a` }), lenient, resolver, FIXTURE_NOW);
    expect(over.decision.reason).toBe("route_not_allowed");
    const noPolicy = settings({ defaultRoute: "allow-authenticated", policy: () => undefined });
    const unmatched = await decideCheck(
      input({ headers, path: `${longest}a` }),
      noPolicy,
      resolver,
      FIXTURE_NOW,
    );
    expect(unmatched.decision.reason).toBe("allowed");
  });

  it("throws RouteConfigError for an invalid scope in context_extensions", () => {
    expect(() =>
      decideCheck(
        input({ contextExtensions: { "keyward.scopes": "NOT A SCOPE" } }),
        settings(),
        memoryResolver(),
        FIXTURE_NOW,
      ),
    ).toThrow(RouteConfigError);
  });

  it("answers the same on every call with one frozen extensions object (kept after its first read), errors included", async () => {
    const resolver = memoryResolver();
    const reader = resolver.add({ scopes: ["orders:read"] });
    const writer = resolver.add({ scopes: ["orders:write"] });
    const route = Object.freeze({ "keyward.scopes": "orders:write", "keyward.cost": "2" });
    const ask = async (key: string) =>
      (
        await decideCheck(
          input({ headers: { "x-api-key": key }, contextExtensions: route }),
          settings(),
          resolver,
          FIXTURE_NOW,
        )
      ).decision;
    for (let i = 0; i < 2; i++) {
      expect(await ask(writer)).toMatchObject({ reason: "allowed" });
      expect(await ask(reader)).toMatchObject({
        reason: "insufficient_scope",
        missingScopes: ["orders:write"],
      });
    }
    const broken = Object.freeze({ "keyward.scopes": "orders:read", "keyward.cost": "0.5" });
    for (let i = 0; i < 2; i++) {
      expect(() =>
        decideCheck(
          input({ headers: { "x-api-key": reader }, contextExtensions: broken }),
          settings(),
          resolver,
          FIXTURE_NOW,
        ),
      ).toThrow(/keyward.cost/);
    }
  });

  it("throws RouteConfigError for more scopes in context_extensions than a key may hold", () => {
    const scopes = (n: number) => Array.from({ length: n }, (_, i) => `orders:read${i}`).join(",");
    const resolver = memoryResolver();
    const check = (n: number) =>
      decideCheck(
        input({ contextExtensions: { "keyward.scopes": scopes(n) } }),
        settings(),
        resolver,
        FIXTURE_NOW,
      );
    expect(() => check(101)).toThrow(/at most 100 scopes/);
    expect(() => check(100)).not.toThrow();
  });
});
