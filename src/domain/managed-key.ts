import { type Admin, checkWorkspace } from "./admin-access.js";
import type { ApiKey } from "./key.js";
import type { StoreReader } from "./key-store.js";
import { fail, type Outcome, ok, type Refusal } from "./outcome.js";
import { quoted, refuseKeyShaped } from "./secret-input.js";

/** Finds a key the admin may manage: NOT_FOUND when absent, PERMISSION_DENIED in another workspace. */
export async function managedKey(reader: StoreReader, admin: Admin, keyId: string): Promise<Outcome<ApiKey>> {
  if (keyId === "") return fail("invalid_argument", "key_id is required");
  // A secret pasted as key_id (the issue's `key "kw_live_…" not found`): refused, not looked up or echoed.
  const refused = refuseKeyShaped("key_id", keyId);
  if (refused !== undefined) return refused;
  const key = await reader.findKeyById(keyId);
  if (key === undefined) return fail("not_found", `key ${quoted(keyId, 64)} not found`);
  return checkWorkspace(admin, key.workspace) ?? ok(key);
}

/** Refuses changes to a revoked key (revocation is final); undefined when the key is not revoked. */
export function refuseRevoked(key: ApiKey, what: string): Refusal | undefined {
  return key.status === "revoked"
    ? fail("failed_precondition", `key ${key.keyId} is revoked and cannot be ${what}`)
    : undefined;
}
