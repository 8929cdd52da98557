import { authorize } from "./authorize.js";
import type { KeyResolver } from "./key-store.js";
import { type Failure, fail, type Outcome, ok } from "./outcome.js";
import { describeReason, httpStatusOf } from "./reason.js";

/** The scope a key needs to manage keys of its own workspace. */
export const ADMIN_SCOPE = "keyward:admin";

/** A caller proven to hold an active admin key. */
export interface Admin {
  readonly keyId: string;
  readonly workspace: string;
}

/**
 * Checks the bearer key of a management call. A key that is not valid at all
 * (missing, malformed, unknown, revoked, expired) is `unauthenticated`; a valid
 * key that may not manage (suspended, no admin scope) is `permission_denied`.
 */
export async function authenticateAdmin(
  resolver: KeyResolver,
  bearer: string | undefined,
  now: number,
): Promise<Outcome<Admin>> {
  const decision = await authorize(
    { credential: bearer, requiredScopes: [ADMIN_SCOPE], className: "", workspace: "" },
    resolver,
    now,
  );
  if (decision.reason === "allowed" && decision.key !== undefined) {
    return ok({ keyId: decision.key.key.keyId, workspace: decision.key.key.workspace });
  }
  const why = describeReason(decision.reason);
  if (httpStatusOf(decision.reason) === 401) {
    return fail("unauthenticated", `management calls need authorization: Bearer <admin key>: ${why}`);
  }
  return fail(
    "permission_denied",
    decision.reason === "insufficient_scope" ? `the key does not hold scope ${ADMIN_SCOPE}` : why,
  );
}

/** Refuses access to another workspace than the admin's own. */
export function checkWorkspace(admin: Admin, workspace: string): Failure | undefined {
  if (admin.workspace === workspace) return undefined;
  return {
    code: "permission_denied",
    message: `the admin key may only manage workspace "${admin.workspace}"`,
  };
}
