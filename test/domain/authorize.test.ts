import { describe, expect, it } from "vitest";
import { type AuthorizeInput, authorize, type Decision } from "../../src/domain/authorize.js";
import { decisionMessage } from "../../src/domain/decision-message.js";
import { generateKey } from "../../src/domain/key-format.js";
import { digestKey, hashKey } from "../../src/domain/key-hash.js";
import type { KeyResolver } from "../../src/domain/key-resolver.js";
import { httpStatusOf, type Reason } from "../../src/domain/reason.js";
import { FIXTURE_NOW, type KeyCase, memoryResolver } from "../support/fixtures.js";

function request(credential: string | undefined, overrides: Partial<AuthorizeInput> = {}): AuthorizeInput {
  return {
    credential,
    requiredScopes: [],
    className: "",
    workspace: "",
    clientIp: undefined,
    cost: 1,
    dryRun: false,
    ...overrides,
  };
}

/** Decides synchronously; the fixture resolver answers without a Promise unless asked to. */
function decide(input: AuthorizeInput, resolver: KeyResolver, now = FIXTURE_NOW): Decision {
  const decision = authorize(input, resolver, now);
  if (decision instanceof Promise) throw new Error("expected a synchronous decision");
  return decision;
}

/** The reason for one key and one request, against a fresh resolver. */
function reasonFor(key: KeyCase, ask: Partial<AuthorizeInput> = {}, now = FIXTURE_NOW): Reason {
  const resolver = memoryResolver();
  return decide(request(resolver.add(key), ask), resolver, now).reason;
}

describe("authorize: each check", () => {
  it("is missing_credential without a key, and never asks the resolver", () => {
    const resolver = memoryResolver();
    expect(decide(request(undefined), resolver).reason).toBe("missing_credential");
    expect(decide(request(""), resolver).reason).toBe("missing_credential");
    expect(resolver.calls).toBe(0);
  });

  it("is invalid_format for a malformed key, and never asks the resolver", () => {
    const resolver = memoryResolver();
    const secret = resolver.add();
    const typo = `${secret.slice(0, -1)}${secret.endsWith("A") ? "B" : "A"}`;
    for (const credential of ["nonsense", " ", "Bearer x", typo, `${secret}x`]) {
      expect(decide(request(credential), resolver).reason, credential).toBe("invalid_format");
    }
    expect(resolver.calls).toBe(0);
  });

  it("is key_not_found for a well-formed key that is not stored", () => {
    const resolver = memoryResolver();
    resolver.add();
    const decision = decide(request(generateKey("kw", "live")), resolver);
    expect(decision).toEqual({ reason: "key_not_found", key: undefined, missingScopes: [] });
    expect(resolver.calls).toBe(1);
  });

  it("looks the key up by its hash", () => {
    const asked: string[] = [];
    const secret = generateKey("kw", "live");
    decide(request(secret), {
      resolve: (keyHash) => {
        asked.push(keyHash);
        return undefined;
      },
    });
    expect(asked).toEqual([digestKey(secret)]);
  });

  it("is key_not_found, revealing no key, when the key belongs to another workspace", () => {
    const resolver = memoryResolver();
    const secret = resolver.add({ workspace: "acme" });
    const decision = decide(request(secret, { workspace: "other" }), resolver);
    expect(decision.reason).toBe("key_not_found");
    expect(decision.key).toBeUndefined();
    expect(decide(request(secret, { workspace: "acme" }), resolver).reason).toBe("allowed");
    expect(decide(request(secret, { workspace: "" }), resolver).reason).toBe("allowed");
  });

  it("is key_revoked, key_expired or key_suspended from the key's state", () => {
    expect(reasonFor({ status: "revoked", revokeTime: FIXTURE_NOW - 1 })).toBe("key_revoked");
    expect(reasonFor({ expireTime: FIXTURE_NOW - 60_000 })).toBe("key_expired");
    expect(reasonFor({ status: "suspended" })).toBe("key_suspended");
  });

  it("is workspace_suspended for an active key of a suspended workspace, keeping the key", () => {
    const resolver = memoryResolver();
    const secret = resolver.add({ scopes: ["models:read"], workspaceSuspended: true });
    const decision = decide(request(secret, { requiredScopes: ["models:read"] }), resolver);
    expect(decision.reason).toBe("workspace_suspended");
    expect(decision.key?.keyId).toBe("key_test");
    expect(decision.key?.terms.workspaceSuspended).toBe(true);
    expect(reasonFor({ workspaceSuspended: false })).toBe("allowed");
  });

  it("still hides a suspended workspace's key from a request naming another workspace", () => {
    expect(reasonFor({ workspaceSuspended: true }, { workspace: "other" })).toBe("key_not_found");
  });

  it("expires a key at its expiry time exactly, not a millisecond before", () => {
    const expireTime = FIXTURE_NOW + 1000;
    expect(reasonFor({ expireTime }, {}, expireTime)).toBe("key_expired");
    expect(reasonFor({ expireTime }, {}, expireTime - 1)).toBe("allowed");
    expect(reasonFor({ expireTime: null }, {}, Number.MAX_SAFE_INTEGER)).toBe("allowed");
  });

  it("is insufficient_scope listing every missing scope in the order asked", () => {
    const resolver = memoryResolver();
    const secret = resolver.add({ scopes: ["models:read"] });
    const decision = decide(
      request(secret, { requiredScopes: ["b:write", "models:read", "a:write"] }),
      resolver,
    );
    expect(decision.reason).toBe("insufficient_scope");
    expect(decision.missingScopes).toEqual(["b:write", "a:write"]);
    expect(decision.key?.keyId).toBe("key_test");
  });

  it("is class_not_allowed when the key's classes exclude the requested one", () => {
    expect(reasonFor({ classes: ["gpt-small"] }, { className: "gpt-large" })).toBe("class_not_allowed");
    expect(reasonFor({ classes: ["gpt-small"] }, { className: "gpt-small" })).toBe("allowed");
  });

  it("skips the class check when the request names no class", () => {
    expect(reasonFor({ classes: ["gpt-small"] }, { className: "" })).toBe("allowed");
  });

  it("lets a key without classes be used for any class", () => {
    expect(reasonFor({ classes: [] }, { className: "anything" })).toBe("allowed");
  });

  it("is ip_not_allowed when the client address is outside the key's CIDRs, or unknown", () => {
    const office = { allowedCidrs: ["10.0.0.0/8"] };
    expect(reasonFor(office, { clientIp: "10.2.3.4" })).toBe("allowed");
    expect(reasonFor(office, { clientIp: "192.0.2.1" })).toBe("ip_not_allowed");
    expect(reasonFor(office, { clientIp: undefined })).toBe("ip_not_allowed");
    expect(reasonFor({ allowedCidrs: [] }, { clientIp: undefined })).toBe("allowed");
  });

  it("checks the address after scope and class", () => {
    const office = { allowedCidrs: ["10.0.0.0/8"], classes: ["gpt-small"] };
    const outside = { clientIp: "192.0.2.1" };
    expect(reasonFor(office, { ...outside, requiredScopes: ["billing:write"] })).toBe("insufficient_scope");
    expect(reasonFor(office, { ...outside, className: "gpt-large" })).toBe("class_not_allowed");
  });

  it("is allowed when every check passes, with the key and no missing scopes", () => {
    const resolver = memoryResolver();
    const secret = resolver.add({
      workspace: "acme",
      scopes: ["models:*"],
      classes: ["gpt"],
      expireTime: FIXTURE_NOW + 1,
    });
    const decision = decide(
      request(secret, { requiredScopes: ["models:read"], className: "gpt", workspace: "acme" }),
      resolver,
    );
    expect(decision.reason).toBe("allowed");
    expect(decision.key?.terms.workspace).toBe("acme");
    expect(decision.missingScopes).toEqual([]);
  });
});

describe("authorize: the first failing check wins", () => {
  const expired = { expireTime: FIXTURE_NOW - 1 };
  const noScope = { scopes: [] as string[] };
  const ask = { requiredScopes: ["models:read"], className: "gpt" };

  const suspendedWorkspace = { workspaceSuspended: true };

  it.each<{ name: string; key: KeyCase; ask: Partial<AuthorizeInput>; reason: Reason }>([
    {
      name: "other workspace over revoked",
      key: { status: "revoked", ...expired },
      ask: { workspace: "other" },
      reason: "key_not_found",
    },
    { name: "revoked over expired", key: { status: "revoked", ...expired }, ask: {}, reason: "key_revoked" },
    {
      name: "revoked over missing scope",
      key: { status: "revoked", ...noScope },
      ask,
      reason: "key_revoked",
    },
    {
      name: "expired over suspended",
      key: { status: "suspended", ...expired },
      ask: {},
      reason: "key_expired",
    },
    { name: "expired over missing scope", key: { ...expired, ...noScope }, ask, reason: "key_expired" },
    {
      name: "revoked over workspace suspended",
      key: { status: "revoked", ...suspendedWorkspace },
      ask: {},
      reason: "key_revoked",
    },
    {
      name: "expired over workspace suspended",
      key: { ...expired, ...suspendedWorkspace },
      ask: {},
      reason: "key_expired",
    },
    {
      name: "workspace suspended over key suspended",
      key: { status: "suspended", ...suspendedWorkspace },
      ask: {},
      reason: "workspace_suspended",
    },
    {
      name: "workspace suspended over missing scope and class",
      key: { ...noScope, classes: ["other"], ...suspendedWorkspace },
      ask,
      reason: "workspace_suspended",
    },
    {
      name: "suspended over missing scope",
      key: { status: "suspended", ...noScope },
      ask,
      reason: "key_suspended",
    },
    {
      name: "suspended over class",
      key: { status: "suspended", scopes: ["models:read"], classes: ["other"] },
      ask,
      reason: "key_suspended",
    },
    {
      name: "missing scope over class",
      key: { ...noScope, classes: ["other"] },
      ask,
      reason: "insufficient_scope",
    },
  ])("$name", ({ key, ask, reason }) => {
    expect(reasonFor(key, ask)).toBe(reason);
  });

  it("puts format before lookup: a malformed credential is invalid_format even if the resolver knows nothing", () => {
    const resolver = memoryResolver();
    expect(decide(request("kw_live_short"), resolver).reason).toBe("invalid_format");
    expect(resolver.calls).toBe(0);
  });
});

describe("authorize with a resolver that answers with a Promise", () => {
  it("returns a Promise of the same decision the synchronous path gives", async () => {
    const cases: KeyCase[] = [
      {},
      { status: "revoked" },
      { expireTime: FIXTURE_NOW },
      { workspaceSuspended: true },
      { status: "suspended" },
    ];
    for (const key of cases) {
      const sync = memoryResolver();
      const async = memoryResolver({ async: true });
      const syncDecision = decide(request(sync.add(key), { requiredScopes: ["a:b"] }), sync);
      const pending = authorize(request(async.add(key), { requiredScopes: ["a:b"] }), async, FIXTURE_NOW);
      expect(pending).toBeInstanceOf(Promise);
      const asyncDecision = await pending;
      expect(asyncDecision.reason).toBe(syncDecision.reason);
      expect(asyncDecision.missingScopes).toEqual(syncDecision.missingScopes);
    }
  });

  it("resolves to key_not_found for an unknown key", async () => {
    const resolver = memoryResolver({ async: true });
    const decision = await authorize(request(generateKey("kw", "test")), resolver, FIXTURE_NOW);
    expect(decision.reason).toBe("key_not_found");
  });

  it("still decides missing and malformed credentials synchronously", () => {
    const resolver = memoryResolver({ async: true });
    expect(authorize(request(undefined), resolver, FIXTURE_NOW)).not.toBeInstanceOf(Promise);
    expect(authorize(request("nonsense"), resolver, FIXTURE_NOW)).not.toBeInstanceOf(Promise);
    expect(resolver.calls).toBe(0);
  });
});

describe("httpStatusOf", () => {
  // Typed as a Record so that a new Reason fails to compile until it is listed here.
  const statuses: Record<Reason, number> = {
    allowed: 200,
    missing_credential: 401,
    invalid_format: 401,
    key_not_found: 401,
    key_revoked: 401,
    key_expired: 401,
    workspace_suspended: 403,
    key_suspended: 403,
    insufficient_scope: 403,
    class_not_allowed: 403,
    route_not_allowed: 403,
    credential_in_query: 401,
    ip_not_allowed: 403,
    rate_limited: 429,
    quota_exceeded: 429,
    credits_exhausted: 429,
  };

  it.each(Object.entries(statuses))("maps %s to %i", (reason, status) => {
    expect(httpStatusOf(reason as Reason)).toBe(status);
  });
});

describe("decisionMessage", () => {
  it("lists the missing scopes", () => {
    const resolver = memoryResolver();
    const secret = resolver.add({ scopes: ["models:read"] });
    const decision = decide(request(secret, { requiredScopes: ["models:write", "billing:read"] }), resolver);
    expect(decisionMessage(decision)).toContain("models:write, billing:read");
  });

  it("names a few missing scopes and counts the rest, so that it does not grow with the request", () => {
    const resolver = memoryResolver();
    const secret = resolver.add({ scopes: ["models:read"] });
    const requiredScopes = Array.from({ length: 100 }, (_, i) => `models:write${i}`);
    const decision = decide(request(secret, { requiredScopes }), resolver);
    expect(decision.missingScopes).toHaveLength(100);
    const message = decisionMessage(decision);
    expect(message).toContain(
      "models:write0, models:write1, models:write2, models:write3, models:write4 and 95 more",
    );
    expect(message).not.toContain("models:write5");
  });

  it("gives the expiry time in ISO 8601", () => {
    const expireTime = Date.UTC(2025, 0, 1, 9, 30, 0);
    const resolver = memoryResolver();
    const decision = decide(request(resolver.add({ expireTime })), resolver);
    expect(decision.reason).toBe("key_expired");
    expect(decisionMessage(decision)).toContain("2025-01-01T09:30:00.000Z");
  });

  it("never contains the credential, its random part or its hash, whatever the reason", () => {
    const keys: KeyCase[] = [
      { scopes: ["a:b"] },
      { status: "revoked" },
      { expireTime: FIXTURE_NOW },
      { workspaceSuspended: true },
      { status: "suspended" },
      { scopes: [] },
      { scopes: ["a:b"], classes: ["other"] },
    ];
    const seen = new Set<Reason>();
    for (const key of keys) {
      const resolver = memoryResolver();
      const secret = resolver.add(key);
      for (const ask of [{ requiredScopes: ["a:b"], className: "gpt" }, { workspace: "elsewhere" }]) {
        const decision = decide(request(secret, ask), resolver);
        seen.add(decision.reason);
        const message = decisionMessage(decision);
        expect(message).not.toContain(secret);
        expect(message).not.toContain(secret.slice("kw_live_".length));
        expect(message).not.toContain(hashKey(secret));
      }
    }
    for (const credential of [undefined, "kw_live_nonsense"]) {
      const decision = decide(request(credential), memoryResolver());
      seen.add(decision.reason);
      if (credential !== undefined) expect(decisionMessage(decision)).not.toContain(credential);
    }
    expect(seen.size).toBe(10);
  });
});
