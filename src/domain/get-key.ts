import type { Admin } from "./admin-access.js";
import type { KeyStore } from "./key-store.js";
import { type KeyView, viewKey } from "./key-view.js";
import { managedKey } from "./managed-key.js";
import { type Outcome, ok } from "./outcome.js";

/** One key of a workspace the admin may manage, with its usage as of `now`. */
export async function getKey(
  store: KeyStore,
  admin: Admin,
  keyId: string,
  now: number,
): Promise<Outcome<KeyView>> {
  const found = await managedKey(store, admin, keyId);
  if (!found.ok) return found;
  return ok(await viewKey(store, found.value, now));
}
