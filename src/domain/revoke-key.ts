import type { Admin } from "./admin-access.js";
import { auditEvent, type Caller } from "./audit.js";
import type { ApiKey } from "./key.js";
import type { KeyStore } from "./key-store.js";
import { managedKey } from "./managed-key.js";
import { fail, type Outcome, ok } from "./outcome.js";
import { refuseKeyShaped } from "./secret-input.js";

const REASON_MAX = 500;

/**
 * Revokes a key. Irreversible; revoking a revoked key returns it unchanged
 * (same revoke time, no new audit event), so retries are safe.
 */
export async function revokeKey(
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
    if (!found.ok || found.value.status === "revoked") return found;
    const revoked: ApiKey = {
      ...found.value,
      status: "revoked",
      revokeTime: now,
      revokeReason: reason,
      updateTime: now,
    };
    await tx.updateKey(revoked);
    await tx.recordEvent(
      auditEvent(caller, now, {
        workspace: revoked.workspace,
        action: "key.revoked",
        targetId: keyId,
        reason,
      }),
    );
    return ok(revoked);
  });
}

export { REASON_MAX };
