import { describe, expect, it } from "vitest";
import { type IssuedKey, type IssueKeyInput, prepareKey } from "../../src/domain/issue-key.js";
import { parseKey } from "../../src/domain/key-format.js";
import { hashKey } from "../../src/domain/key-hash.js";
import type { Failure } from "../../src/domain/outcome.js";
import { FIXTURE_NOW } from "../support/fixtures.js";

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
  const outcome = prepareKey(input(overrides), FIXTURE_NOW);
  if (!outcome.ok) throw new Error(`expected a key, got: ${outcome.error.message}`);
  return outcome.value;
}

function rejection(overrides: Partial<IssueKeyInput>): Failure {
  const outcome = prepareKey(input(overrides), FIXTURE_NOW);
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
    expect(rejection({ expireTime: FIXTURE_NOW - 1 }).message).toContain("expire_time");
    expect(rejection({ expireTime: FIXTURE_NOW }).message).toContain("expire_time");
    expect(issued({ expireTime: FIXTURE_NOW + 1 }).key.expireTime).toBe(FIXTURE_NOW + 1);
  });

  it("rejects both an expiry time and a ttl", () => {
    const message = rejection({ expireTime: FIXTURE_NOW + 60_000, ttlMs: 60_000 }).message;
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
    expect(key.createTime).toBe(FIXTURE_NOW);
    expect(parseKey(secret)).toEqual({ prefix: "kw", environment: "live" });
  });

  it("starts the lifecycle fields fresh: updated at creation, never suspended, used or rotated", () => {
    const { key } = issued();
    expect(key).toMatchObject({
      updateTime: FIXTURE_NOW,
      suspendTime: null,
      suspendReason: "",
      lastUsedTime: null,
      rotatedFromKeyId: "",
      rotatedToKeyId: "",
      revokeTime: null,
      revokeReason: "",
    });
  });

  it("uses the given defaults when the input leaves prefix and environment out", () => {
    const outcome = prepareKey(input(), FIXTURE_NOW, { prefix: "acme", environment: "test" });
    if (!outcome.ok) throw new Error(outcome.error.message);
    expect(outcome.value.key.environment).toBe("test");
    expect(parseKey(outcome.value.secret)).toEqual({ prefix: "acme", environment: "test" });
  });

  it("lets the input override the defaults, and falls back to kw for an empty default prefix", () => {
    const explicit = prepareKey(input({ prefix: "own", environment: "live" }), FIXTURE_NOW, {
      prefix: "acme",
      environment: "test",
    });
    if (!explicit.ok) throw new Error(explicit.error.message);
    expect(parseKey(explicit.value.secret)).toEqual({ prefix: "own", environment: "live" });

    const blank = prepareKey(input(), FIXTURE_NOW, { prefix: "", environment: "test" });
    if (!blank.ok) throw new Error(blank.error.message);
    expect(parseKey(blank.value.secret)).toEqual({ prefix: "kw", environment: "test" });
  });

  it("uses the asked workspace, prefix and environment", () => {
    const { key, secret } = issued({ workspace: "acme", prefix: "acme", environment: "test" });
    expect(key.workspace).toBe("acme");
    expect(key.environment).toBe("test");
    expect(parseKey(secret)).toEqual({ prefix: "acme", environment: "test" });
  });

  it("sets the expiry time to now + ttl", () => {
    expect(issued({ ttlMs: 3_600_000 }).key.expireTime).toBe(FIXTURE_NOW + 3_600_000);
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
