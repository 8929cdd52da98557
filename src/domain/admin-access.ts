import { authorize } from "./authorize.js";
import type { KeyResolver } from "./key-resolver.js";
import { fail, type Outcome, ok, type Refusal } from "./outcome.js";
import { describeReason, httpStatusOf } from "./reason.js";
import { grantsScope } from "./scope.js";
import { refuseKeyShaped } from "./secret-input.js";
import { SYSTEM_WORKSPACE } from "./workspace.js";

/** The scope a key needs to manage keys of its own workspace. */
export const ADMIN_SCOPE = "keyward:admin";
/**
 * The scope of a global admin. It counts only when a key of the system workspace lists it
 * by name: `*` and `keyward:*` grant it to Authorize like any scope, never global admin.
 */
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
 * is `permission_denied`. Only a key of the system workspace that lists
 * `keyward:superadmin` by name is a global admin; any other key of the system
 * workspace manages nothing, since its keys are a global admin's alone.
 */
export async function authenticateAdmin(
  resolver: KeyResolver,
  bearer: string | undefined,
  now: number,
): Promise<Outcome<Admin>> {
  const decision = await authorize(
    {
      credential: bearer,
      requiredScopes: NO_SCOPES,
      className: "",
      workspace: "",
      clientIp: undefined,
      cost: 1,
      dryRun: true,
    },
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
  if (workspace === SYSTEM_WORKSPACE) {
    return terms.scopes.exact.has(SUPERADMIN_SCOPE)
      ? ok({ keyId, workspace, global: true })
      : fail(
          "permission_denied",
          `keys of workspace "${SYSTEM_WORKSPACE}" manage only as ${SUPERADMIN_SCOPE}`,
        );
  }
  if (grantsScope(terms.scopes, ADMIN_SCOPE)) return ok({ keyId, workspace, global: false });
  return fail("permission_denied", `the key does not hold scope ${ADMIN_SCOPE}`);
}

/**
 * Refuses access to another workspace than the admin's own, unless the admin is global.
 * The system workspace is a global admin's alone, even to an admin authenticated in it.
 */
export function checkWorkspace(admin: Admin, workspace: string): Refusal | undefined {
  if (admin.global) return undefined;
  if (workspace === SYSTEM_WORKSPACE) return requireGlobal(admin);
  if (admin.workspace === workspace) return undefined;
  return fail("permission_denied", `the admin key may only manage workspace "${admin.workspace}"`);
}

/** A key as it will be once issued, rotated or changed: where it lives and what it holds. */
export interface GrantedKey {
  readonly workspace: string;
  readonly scopes: readonly string[];
}

/**
 * The authority rule: no caller makes or widens a key beyond its own authority.
 * A global admin's authority is everything. A workspace admin's is its own
 * workspace, all of it (so `*` there is fine: `*` never makes a global admin)
 * but never global admin: it may not issue, rotate or change a key that will
 * list `keyward:superadmin`, in any workspace, nor any key of the system
 * workspace. IssueKey, RotateKey and UpdateKey check the key they are about
 * to write; test/rpc/management-auth.test.ts tries every caller kind.
 */
export function checkAuthority(admin: Admin, key: GrantedKey): Refusal | undefined {
  const denied = checkWorkspace(admin, key.workspace);
  if (denied !== undefined || admin.global) return denied;
  return key.scopes.includes(SUPERADMIN_SCOPE)
    ? fail("permission_denied", `only a global admin may give a key ${SUPERADMIN_SCOPE}`)
    : undefined;
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
  return refuseKeyShaped("workspace", workspace) ?? checkWorkspace(admin, workspace) ?? ok(workspace);
}
