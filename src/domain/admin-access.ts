import { authorize } from "./authorize.js";
import type { KeyResolver } from "./key-store.js";
import { fail, type Outcome, ok, type Refusal } from "./outcome.js";
import { describeReason, httpStatusOf } from "./reason.js";
import { grantsScope } from "./scope.js";
import { SYSTEM_WORKSPACE } from "./workspace.js";

/** The scope a key needs to manage keys of its own workspace. */
export const ADMIN_SCOPE = "keyward:admin";
/** The scope of a global admin; it counts only on keys of the system workspace. */
export const SUPERADMIN_SCOPE = "keyward:superadmin";

/** A caller proven to hold an active admin key. */
export interface Admin {
  readonly keyId: string;
  readonly workspace: string;
  /** A global admin manages workspaces and every workspace's keys. */
  readonly global: boolean;
}

const NO_SCOPES: readonly string[] = [];

/**
 * Checks the bearer key of a management call. A key that is not valid at all
 * (missing, malformed, unknown, revoked, expired) is `unauthenticated`; a valid
 * key that may not manage (suspended, its workspace suspended, no admin scope)
 * is `permission_denied`. A `keyward:superadmin` key outside the system
 * workspace is no global admin: a tenant's `*` key must not become one.
 */
export async function authenticateAdmin(
  resolver: KeyResolver,
  bearer: string | undefined,
  now: number,
): Promise<Outcome<Admin>> {
  const decision = await authorize(
    { credential: bearer, requiredScopes: NO_SCOPES, className: "", workspace: "" },
    resolver,
    now,
  );
  const found = decision.key;
  if (decision.reason !== "allowed" || found === undefined) {
    const why = describeReason(decision.reason);
    return httpStatusOf(decision.reason) === 401
      ? fail("unauthenticated", `management calls need authorization: Bearer <admin key>: ${why}`)
      : fail("permission_denied", why);
  }
  const { keyId, terms } = found;
  const workspace = terms.workspace;
  if (workspace === SYSTEM_WORKSPACE && grantsScope(terms.scopes, SUPERADMIN_SCOPE)) {
    return ok({ keyId, workspace, global: true });
  }
  if (grantsScope(terms.scopes, ADMIN_SCOPE)) return ok({ keyId, workspace, global: false });
  return fail("permission_denied", `the key does not hold scope ${ADMIN_SCOPE}`);
}

/** Refuses access to another workspace than the admin's own, unless the admin is global. */
export function checkWorkspace(admin: Admin, workspace: string): Refusal | undefined {
  if (admin.global || admin.workspace === workspace) return undefined;
  return fail("permission_denied", `the admin key may only manage workspace "${admin.workspace}"`);
}

/** Refuses a call that only a global admin may make. */
export function requireGlobal(admin: Admin): Refusal | undefined {
  if (admin.global) return undefined;
  return fail("permission_denied", `this call needs a global admin key (${SUPERADMIN_SCOPE})`);
}

/** The workspace a listing is about: the admin's own when none is named; a global admin must name one. */
export function listingWorkspace(admin: Admin, requested: string): Outcome<string> {
  const workspace = requested === "" && !admin.global ? admin.workspace : requested;
  if (workspace === "") return fail("invalid_argument", "workspace is required for a global admin");
  return checkWorkspace(admin, workspace) ?? ok(workspace);
}
