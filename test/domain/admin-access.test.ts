import { describe, expect, it } from "vitest";
import {
  ADMIN_SCOPE,
  type Admin,
  authenticateAdmin,
  checkAuthority,
  checkWorkspace,
  requireGlobal,
  SUPERADMIN_SCOPE,
} from "../../src/domain/admin-access.js";
import { generateKey } from "../../src/domain/key-format.js";
import type { FailureCode, Outcome } from "../../src/domain/outcome.js";
import { SYSTEM_WORKSPACE } from "../../src/domain/workspace.js";
import { FIXTURE_NOW, type KeyCase, memoryResolver } from "../support/fixtures.js";

/** The failure code of an outcome, or "ok"; lets one expectation cover both. */
function codeOf(outcome: Outcome<unknown>): FailureCode | "ok" {
  return outcome.ok ? "ok" : outcome.error.code;
}

/** Authenticates a fresh key with the given record fields. */
async function adminFor(key: KeyCase): Promise<Outcome<Admin>> {
  const resolver = memoryResolver();
  return authenticateAdmin(resolver, resolver.add(key), FIXTURE_NOW);
}

describe("authenticateAdmin", () => {
  it.each([undefined, "", "Bearer nonsense", "kw_live_short"])(
    "is unauthenticated for %j",
    async (bearer) => {
      const outcome = await authenticateAdmin(memoryResolver(), bearer, FIXTURE_NOW);
      expect(codeOf(outcome)).toBe("unauthenticated");
    },
  );

  it("is unauthenticated for an unknown, revoked or expired admin key", async () => {
    const resolver = memoryResolver();
    const keys = [
      generateKey("kw", "live"),
      resolver.add({ scopes: [ADMIN_SCOPE], status: "revoked" }),
      resolver.add({ scopes: [ADMIN_SCOPE], expireTime: FIXTURE_NOW }),
    ];
    for (const bearer of keys) {
      const outcome = await authenticateAdmin(resolver, bearer, FIXTURE_NOW);
      expect(codeOf(outcome)).toBe("unauthenticated");
    }
  });

  it("is permission_denied for a key without the admin scope, naming the scope", async () => {
    const outcome = await adminFor({ scopes: ["models:read"] });
    if (outcome.ok) throw new Error("expected permission_denied");
    expect(outcome.error.code).toBe("permission_denied");
    expect(outcome.error.message).toContain(ADMIN_SCOPE);
  });

  it("is permission_denied for a suspended admin key", async () => {
    expect(codeOf(await adminFor({ scopes: [ADMIN_SCOPE], status: "suspended" }))).toBe("permission_denied");
  });

  it("is permission_denied for an admin key of a suspended workspace, global ones included", async () => {
    expect(codeOf(await adminFor({ scopes: [ADMIN_SCOPE], workspaceSuspended: true }))).toBe(
      "permission_denied",
    );
    const global = { workspace: SYSTEM_WORKSPACE, scopes: [SUPERADMIN_SCOPE], workspaceSuspended: true };
    expect(codeOf(await adminFor(global))).toBe("permission_denied");
  });

  it("returns the admin key's id and workspace, not global", async () => {
    expect(await adminFor({ keyId: "key_admin", workspace: "acme", scopes: [ADMIN_SCOPE] })).toEqual({
      ok: true,
      value: { keyId: "key_admin", workspace: "acme", global: false },
    });
  });

  // `*` alone grants every scope (scope.ts), the admin scope included; so does `keyward:*`.
  it.each([["*"], ["keyward:*"]])("counts a key holding %s as a workspace admin", async (scope) => {
    const outcome = await adminFor({ workspace: "acme", scopes: [scope] });
    expect(outcome).toEqual({ ok: true, value: { keyId: "key_test", workspace: "acme", global: false } });
  });

  it("answers the same when the resolver answers with a Promise", async () => {
    const resolver = memoryResolver({ async: true });
    const admin = await authenticateAdmin(resolver, resolver.add({ scopes: [ADMIN_SCOPE] }), FIXTURE_NOW);
    const plain = await authenticateAdmin(resolver, resolver.add({ scopes: ["models:read"] }), FIXTURE_NOW);
    expect(admin.ok).toBe(true);
    expect(codeOf(plain)).toBe("permission_denied");
  });
});

describe("authenticateAdmin: global admins", () => {
  it("makes a key of the system workspace listing keyward:superadmin a global admin", async () => {
    const outcome = await adminFor({
      keyId: "key_root",
      workspace: SYSTEM_WORKSPACE,
      scopes: [SUPERADMIN_SCOPE],
    });
    expect(outcome).toEqual({
      ok: true,
      value: { keyId: "key_root", workspace: SYSTEM_WORKSPACE, global: true },
    });
  });

  // Issue #10, defect 4: `*` and `keyward:*` grant keyward:superadmin to Authorize, never global admin, and a
  // plain admin key of the system workspace would manage the global admins' own keys.
  it.each([["*"], ["keyward:*"], [ADMIN_SCOPE], ["keyward:*", ADMIN_SCOPE]])(
    "refuses a key of the system workspace holding %s and no keyward:superadmin by name",
    async (...scopes) => {
      const outcome = await adminFor({ workspace: SYSTEM_WORKSPACE, scopes });
      if (outcome.ok) throw new Error("expected permission_denied");
      expect(outcome.error.code).toBe("permission_denied");
      expect(outcome.error.message).toContain(SUPERADMIN_SCOPE);
    },
  );

  it("never makes a tenant's key global, whatever its scopes", async () => {
    for (const scopes of [["*"], ["keyward:*"], [SUPERADMIN_SCOPE, ADMIN_SCOPE]]) {
      const outcome = await adminFor({ workspace: "acme", scopes });
      expect(outcome, scopes.join(" ")).toEqual({
        ok: true,
        value: { keyId: "key_test", workspace: "acme", global: false },
      });
    }
  });

  it("refuses a tenant's key that holds only the superadmin scope", async () => {
    expect(codeOf(await adminFor({ workspace: "acme", scopes: [SUPERADMIN_SCOPE] }))).toBe(
      "permission_denied",
    );
  });

  it("matches the system workspace exactly", async () => {
    for (const workspace of ["Keyward", "keyward-prod", "keyward.", "default"]) {
      const outcome = await adminFor({ workspace, scopes: ["*"] });
      expect(outcome.ok && outcome.value.global, workspace).toBe(false);
    }
  });
});

describe("checkWorkspace", () => {
  const admin: Admin = { keyId: "key_admin", workspace: "acme", global: false };
  const global: Admin = { keyId: "key_root", workspace: SYSTEM_WORKSPACE, global: true };

  it("lets an admin manage its own workspace", () => {
    expect(checkWorkspace(admin, "acme")).toBeUndefined();
  });

  it("refuses another workspace, naming the admin's own", () => {
    const denied = checkWorkspace(admin, "other");
    expect(denied?.error.code).toBe("permission_denied");
    expect(denied?.error.message).toContain('"acme"');
  });

  it("refuses an admin authenticated in another workspace", async () => {
    const outcome = await adminFor({ workspace: "other", scopes: [ADMIN_SCOPE] });
    if (!outcome.ok) throw new Error(outcome.error.message);
    expect(checkWorkspace(outcome.value, "acme")?.error.code).toBe("permission_denied");
  });

  it("refuses a tenant's `*` admin in any workspace but its own", async () => {
    const outcome = await adminFor({ workspace: "acme", scopes: ["*"] });
    if (!outcome.ok) throw new Error(outcome.error.message);
    expect(checkWorkspace(outcome.value, "acme")).toBeUndefined();
    expect(checkWorkspace(outcome.value, "other")?.error.code).toBe("permission_denied");
    expect(checkWorkspace(outcome.value, SYSTEM_WORKSPACE)?.error.code).toBe("permission_denied");
  });

  it("lets a global admin manage any workspace", () => {
    for (const workspace of ["acme", "other", "default", SYSTEM_WORKSPACE]) {
      expect(checkWorkspace(global, workspace), workspace).toBeUndefined();
    }
  });
});

describe("checkAuthority", () => {
  const admin: Admin = { keyId: "key_admin", workspace: "acme", global: false };
  const global: Admin = { keyId: "key_root", workspace: SYSTEM_WORKSPACE, global: true };

  it("lets a workspace admin give a key of its own workspace anything but global admin, `*` included", () => {
    for (const scopes of [["*"], ["keyward:*"], [ADMIN_SCOPE], ["models:read"], []]) {
      expect(checkAuthority(admin, { workspace: "acme", scopes }), scopes.join(" ")).toBeUndefined();
    }
  });

  it("refuses a workspace admin a key listing keyward:superadmin, in any workspace", () => {
    for (const workspace of ["acme", "other", SYSTEM_WORKSPACE]) {
      const denied = checkAuthority(admin, { workspace, scopes: ["models:read", SUPERADMIN_SCOPE] });
      expect(denied?.error.code, workspace).toBe("permission_denied");
    }
  });

  it("refuses a workspace admin any key of the system workspace or of another workspace", () => {
    for (const workspace of [SYSTEM_WORKSPACE, "other"]) {
      const denied = checkAuthority(admin, { workspace, scopes: ["models:read"] });
      expect(denied?.error.code, workspace).toBe("permission_denied");
    }
  });

  it("lets a global admin give any key anything", () => {
    for (const workspace of ["acme", SYSTEM_WORKSPACE]) {
      for (const scopes of [[SUPERADMIN_SCOPE], ["*"], [ADMIN_SCOPE]]) {
        expect(checkAuthority(global, { workspace, scopes }), `${workspace} ${scopes}`).toBeUndefined();
      }
    }
  });
});

describe("requireGlobal", () => {
  it("lets a global admin through", () => {
    expect(requireGlobal({ keyId: "key_root", workspace: SYSTEM_WORKSPACE, global: true })).toBeUndefined();
  });

  it("refuses a workspace admin, naming the superadmin scope", () => {
    for (const workspace of ["acme", SYSTEM_WORKSPACE]) {
      const denied = requireGlobal({ keyId: "key_admin", workspace, global: false });
      expect(denied?.error.code).toBe("permission_denied");
      expect(denied?.error.message).toContain(SUPERADMIN_SCOPE);
    }
  });
});
