import type { Admin } from "./admin-access.js";
import type { Caller } from "./audit.js";
import { changeKey, refuseReason, unchanged } from "./change-key.js";
import type { ApiKey } from "./key.js";
import type { KeyStore } from "./key-store.js";
import { type Outcome, ok } from "./outcome.js";

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
  const refused = refuseReason(reason);
  if (refused !== undefined) return refused;
  return changeKey(store, admin, caller, keyId, now, (key) => {
    if (key.status === "revoked") return unchanged;
    return ok({
      next: { ...key, status: "revoked", revokeTime: now, revokeReason: reason },
      event: { action: "key.revoked", reason },
    });
  });
}
