import type { Admin } from "./admin-access.js";
import type { ApiKey } from "./key.js";
import type { KeyStore } from "./key-store.js";
import { managedKey } from "./managed-key.js";
import type { Outcome } from "./outcome.js";

/** One key of a workspace the admin may manage. */
export function getKey(store: KeyStore, admin: Admin, keyId: string): Promise<Outcome<ApiKey>> {
  return managedKey(store, admin, keyId);
}
