import type { Admin } from "./admin-access.js";
import { auditEvent, type Caller } from "./audit.js";
import type { ApiKey } from "./key.js";
import type { KeyStore } from "./key-store.js";
import { managedKey, notRevoked } from "./managed-key.js";
import { fail, type Outcome, ok } from "./outcome.js";
import { REASON_MAX } from "./revoke-key.js";
import { refuseKeyShaped } from "./secret-input.js";

/** Suspends a key: denied with key_suspended until resumed. Suspending a suspended key changes nothing. */
export async function suspendKey(
  store: KeyStore,
  admin: Admin,
  caller: Caller,
  keyId: string,
  reason: string,
  now: number,
): Promise<Outcome<ApiKey>> {
  if (reason.length > REASON_MAX)
    return fail("invalid_argument", `reason is longer than ${REASON_MAX} characters`);
  const refused = refuseKeyShaped("reason", reason);
  if (refused !== undefined) return refused;
  return store.transaction(async (tx) => {
    const found = await managedKey(tx, admin, keyId);
    const key = found.ok ? notRevoked(found.value, "suspended") : found;
    if (!key.ok || key.value.status === "suspended") return key;
    const suspended: ApiKey = {
      ...key.value,
      status: "suspended",
      suspendTime: now,
      suspendReason: reason,
      updateTime: now,
    };
    await tx.updateKey(suspended);
    await tx.recordEvent(
      auditEvent(caller, now, {
        workspace: suspended.workspace,
        action: "key.suspended",
        targetId: keyId,
        reason,
      }),
    );
    return ok(suspended);
  });
}

/** Resumes a suspended key. A revoked key cannot be resumed; an active one is returned unchanged. */
export async function resumeKey(
  store: KeyStore,
  admin: Admin,
  caller: Caller,
  keyId: string,
  now: number,
): Promise<Outcome<ApiKey>> {
  return store.transaction(async (tx) => {
    const found = await managedKey(tx, admin, keyId);
    const key = found.ok ? notRevoked(found.value, "resumed") : found;
    if (!key.ok || key.value.status === "active") return key;
    const resumed: ApiKey = {
      ...key.value,
      status: "active",
      suspendTime: null,
      suspendReason: "",
      updateTime: now,
    };
    await tx.updateKey(resumed);
    await tx.recordEvent(
      auditEvent(caller, now, { workspace: resumed.workspace, action: "key.resumed", targetId: keyId }),
    );
    return ok(resumed);
  });
}
