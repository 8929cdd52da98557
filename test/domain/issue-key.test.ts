import { describe, expect, it } from "vitest";
import { ADMIN_SCOPE, authenticateAdmin, checkWorkspace } from "../../src/domain/admin-access.js";
import { type IssuedKey, type IssueKeyInput, prepareKey } from "../../src/domain/issue-key.js";
import { generateKey, parseKey } from "../../src/domain/key-format.js";
import { hashKey } from "../../src/domain/key-hash.js";
import type { Failure, FailureCode, Outcome } from "../../src/domain/outcome.js";
import { memoryResolver, NOW } from "./fixtures.js";

function input(overrides: Partial<IssueKeyInput> = {}): IssueKeyInput {
  return {
    workspace: "",
    name: "ci deploy",
    description: "",
    scopes: [],
    classes: [],
    environment: undefined,
    prefix: "",
    expireTime: undefined,
    ttlMs: undefined,
    ownerId: "",
    metadata: {},
    ...overrides,
  };
}

function issued(overrides: Partial<IssueKeyInput> = {}): IssuedKey {
  const outcome = prepareKey(input(overrides), NOW);
  if (!outcome.ok) throw new Error(`expected a key, got: ${outcome.error.message}`);
  return outcome.value;
}

function rejection(overrides: Partial<IssueKeyInput>): Failure {
  const outcome = prepareKey(input(overrides), NOW);
  if (outcome.ok) throw new Error("expected invalid_argument, got a key");
  expect(outcome.error.code).toBe("invalid_argument");
  return outcome.error;
}

describe("prepareKey validation", () => {
  it.each(["", "   ", "\t\n"])("requires a name (%j)", (name) => {
    expect(rejection({ name }).message).toContain("name");
  });

  it("accepts a 200-character name and rejects 201, counting characters not UTF-16 units", () => {
    expect(issued({ name: "n".repeat(200) }).key.name).toHaveLength(200);
    expect(issued({ name: "🔑".repeat(200) }).key.name).toBe("🔑".repeat(200));
    expect(rejection({ name: "n".repeat(201) }).message).toContain("200");
  });

  it("rejects an invalid scope, naming it", () => {
    expect(rejection({ scopes: ["models:read", "Models:Write"] }).message).toContain('"Models:Write"');
  });

  it("rejects an invalid prefix, naming it", () => {
    expect(rejection({ prefix: "Bad_Prefix" }).message).toContain('"Bad_Prefix"');
  });

  it("rejects an expiry time that is not in the future", () => {
    expect(rejection({ expireTime: NOW - 1 }).message).toContain("expire_time");
    expect(rejection({ expireTime: NOW }).message).toContain("expire_time");
    expect(issued({ expireTime: NOW + 1 }).key.expireTime).toBe(NOW + 1);
  });

  it("rejects both an expiry time and a ttl", () => {
    const message = rejection({ expireTime: NOW + 60_000, ttlMs: 60_000 }).message;
    expect(message).toContain("expire_time");
    expect(message).toContain("ttl");
  });

  it.each([0, -1, -60_000])("rejects a ttl of %i", (ttlMs) => {
    expect(rejection({ ttlMs }).message).toContain("ttl");
  });
});

describe("prepareKey result", () => {
  it("defaults to workspace default, prefix kw, environment live and no expiry", () => {
    const { key, secret } = issued();
    expect(key.workspace).toBe("default");
    expect(key.environment).toBe("live");
    expect(key.expireTime).toBeNull();
    expect(key.status).toBe("active");
    expect(key.createTime).toBe(NOW);
    expect(parseKey(secret)).toEqual({ prefix: "kw", environment: "live" });
  });

  it("uses the asked workspace, prefix and environment", () => {
    const { key, secret } = issued({ workspace: "acme", prefix: "acme", environment: "test" });
    expect(key.workspace).toBe("acme");
    expect(key.environment).toBe("test");
    expect(parseKey(secret)).toEqual({ prefix: "acme", environment: "test" });
  });

  it("sets the expiry time to now + ttl", () => {
    expect(issued({ ttlMs: 3_600_000 }).key.expireTime).toBe(NOW + 3_600_000);
  });

  it("removes duplicate scopes, keeping the first occurrence's order", () => {
    const { key } = issued({ scopes: ["b:read", "a:read", "b:read", "*", "a:read"] });
    expect(key.scopes).toEqual(["b:read", "a:read", "*"]);
  });

  it("stores the secret's hash and a display prefix that starts the secret", () => {
    const { key, secret } = issued();
    expect(key.keyHash).toBe(hashKey(secret));
    expect(secret.startsWith(key.keyPrefix)).toBe(true);
    expect(key.keyPrefix.length).toBeLessThan(secret.length);
  });

  it("never puts the secret, or its random part, in the record", () => {
    const { key, secret } = issued({ scopes: ["models:read"], metadata: { team: "ml" } });
    const record = JSON.stringify(key);
    expect(record).not.toContain(secret);
    expect(record).not.toContain(secret.slice(key.keyPrefix.length));
  });

  it("gives every key its own secret and id", () => {
    const a = issued();
    const b = issued();
    expect(a.secret).not.toBe(b.secret);
    expect(a.key.keyId).not.toBe(b.key.keyId);
  });
});

/** The failure code of an outcome, or "ok"; lets one expectation cover both. */
function codeOf(outcome: Outcome<unknown>): FailureCode | "ok" {
  return outcome.ok ? "ok" : outcome.error.code;
}

describe("authenticateAdmin", () => {
  it.each([undefined, "", "Bearer nonsense", "kw_live_short"])(
    "is unauthenticated for %j",
    async (bearer) => {
      const outcome = await authenticateAdmin(memoryResolver(), bearer, NOW);
      expect(codeOf(outcome)).toBe("unauthenticated");
    },
  );

  it("is unauthenticated for an unknown, revoked or expired admin key", async () => {
    const resolver = memoryResolver();
    const keys = [
      generateKey("kw", "live"),
      resolver.add({ scopes: [ADMIN_SCOPE], status: "revoked" }),
      resolver.add({ scopes: [ADMIN_SCOPE], expireTime: NOW }),
    ];
    for (const bearer of keys) {
      const outcome = await authenticateAdmin(resolver, bearer, NOW);
      expect(codeOf(outcome)).toBe("unauthenticated");
    }
  });

  it("is permission_denied for a key without the admin scope, naming the scope", async () => {
    const resolver = memoryResolver();
    const outcome = await authenticateAdmin(resolver, resolver.add({ scopes: ["models:read"] }), NOW);
    if (outcome.ok) throw new Error("expected permission_denied");
    expect(outcome.error.code).toBe("permission_denied");
    expect(outcome.error.message).toContain(ADMIN_SCOPE);
  });

  it("is permission_denied for a suspended admin key", async () => {
    const resolver = memoryResolver();
    const outcome = await authenticateAdmin(
      resolver,
      resolver.add({ scopes: [ADMIN_SCOPE], status: "suspended" }),
      NOW,
    );
    expect(codeOf(outcome)).toBe("permission_denied");
  });

  it("returns the admin key's id and workspace", async () => {
    const resolver = memoryResolver();
    const bearer = resolver.add({ keyId: "key_admin", workspace: "acme", scopes: [ADMIN_SCOPE] });
    expect(await authenticateAdmin(resolver, bearer, NOW)).toEqual({
      ok: true,
      value: { keyId: "key_admin", workspace: "acme" },
    });
  });

  // `*` alone grants every scope (scope.ts), the admin scope included; so does `keyward:*`.
  it.each([["*"], ["keyward:*"]])("counts a key holding %s as an admin", async (scope) => {
    const resolver = memoryResolver();
    const outcome = await authenticateAdmin(resolver, resolver.add({ scopes: [scope] }), NOW);
    expect(outcome.ok).toBe(true);
  });

  it("answers the same when the resolver answers with a Promise", async () => {
    const resolver = memoryResolver({ async: true });
    const admin = await authenticateAdmin(resolver, resolver.add({ scopes: [ADMIN_SCOPE] }), NOW);
    const plain = await authenticateAdmin(resolver, resolver.add({ scopes: ["models:read"] }), NOW);
    expect(admin.ok).toBe(true);
    expect(codeOf(plain)).toBe("permission_denied");
  });
});

describe("checkWorkspace", () => {
  const admin = { keyId: "key_admin", workspace: "acme" };

  it("lets an admin manage its own workspace", () => {
    expect(checkWorkspace(admin, "acme")).toBeUndefined();
  });

  it("refuses another workspace, naming the admin's own", () => {
    const denied = checkWorkspace(admin, "other");
    expect(denied?.code).toBe("permission_denied");
    expect(denied?.message).toContain('"acme"');
  });

  it("refuses an admin authenticated in another workspace", async () => {
    const resolver = memoryResolver();
    const outcome = await authenticateAdmin(
      resolver,
      resolver.add({ workspace: "other", scopes: [ADMIN_SCOPE] }),
      NOW,
    );
    if (!outcome.ok) throw new Error(outcome.error.message);
    expect(checkWorkspace(outcome.value, "acme")?.code).toBe("permission_denied");
  });
});
