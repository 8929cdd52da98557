import { type Admin, checkWorkspace } from "./admin-access.js";
import type { ApiKey } from "./key.js";
import type { KeyStore } from "./key-store.js";
import { fail, type Outcome, ok } from "./outcome.js";

const REASON_MAX = 500;

/**
 * Revokes a key of the admin's workspace. Irreversible; revoking a revoked key
 * returns it unchanged, so retries are safe.
 */
export async function revokeKey(
  store: KeyStore,
  admin: Admin,
  keyId: string,
  reason: string,
  now: number,
): Promise<Outcome<ApiKey>> {
  if (keyId === "") return fail("invalid_argument", "key_id is required");
  if (reason.length > REASON_MAX)
    return fail("invalid_argument", `reason is longer than ${REASON_MAX} characters`);
  const target = await store.findKeyById(keyId);
  if (target === undefined) return fail("not_found", `key "${keyId.slice(0, 64)}" not found`);
  const denied = checkWorkspace(admin, target.workspace);
  if (denied !== undefined) return { ok: false, error: denied };
  const revoked = await store.revokeKey(keyId, reason, now);
  return revoked === undefined ? fail("not_found", `key "${keyId}" not found`) : ok(revoked);
}
