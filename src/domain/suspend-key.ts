import type { Admin } from "./admin-access.js";
import type { Caller } from "./audit.js";
import { changeKey, refuseReason, unchanged } from "./change-key.js";
import type { ApiKey } from "./key.js";
import type { KeyStore } from "./key-store.js";
import { refuseRevoked } from "./managed-key.js";
import { type Outcome, ok } from "./outcome.js";

/** Suspends a key: denied with key_suspended until resumed. Suspending a suspended key changes nothing. */
export async function suspendKey(
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
    const revoked = refuseRevoked(key, "suspended");
    if (revoked !== undefined) return revoked;
    if (key.status === "suspended") return unchanged;
    return ok({
      next: { ...key, status: "suspended", suspendTime: now, suspendReason: reason },
      event: { action: "key.suspended", reason },
    });
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
  return changeKey(store, admin, caller, keyId, now, (key) => {
    const revoked = refuseRevoked(key, "resumed");
    if (revoked !== undefined) return revoked;
    if (key.status === "active") return unchanged;
    return ok({
      next: { ...key, status: "active", suspendTime: null, suspendReason: "" },
      event: { action: "key.resumed" },
    });
  });
}
