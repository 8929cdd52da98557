import { type Admin, checkAuthority } from "./admin-access.js";
import { auditEvent, type Caller } from "./audit.js";
import { type IssuedKey, prepareKey } from "./issue-key.js";
import type { ApiKey } from "./key.js";
import { prefixOfDisplay } from "./key-format.js";
import { checkKeyLimit } from "./key-limit.js";
import { limitsOf } from "./key-limits.js";
import type { KeyStore } from "./key-store.js";
import { managedKey, refuseRevoked } from "./managed-key.js";
import { fail, type Outcome, ok } from "./outcome.js";

/** How long the old key keeps working when the caller does not say. */
export const DEFAULT_GRACE_MS = 24 * 60 * 60 * 1000;

export interface Rotation extends IssuedKey {
  /** The old key: linked to the new one, expiring at the end of the grace period (revoked when it is 0). */
  readonly previous: ApiKey;
}

/**
 * Issues a replacement with the old key's settings (workspace, scopes, classes,
 * environment, prefix, metadata, owner, and the same lifetime if it had one),
 * links the two, and lets the old key work until now + grace. Both keys count
 * against max_keys during the grace period.
 */
export async function rotateKey(
  store: KeyStore,
  admin: Admin,
  caller: Caller,
  keyId: string,
  graceMs: number | undefined,
  now: number,
): Promise<Outcome<Rotation>> {
  const grace = graceMs ?? DEFAULT_GRACE_MS;
  if (grace < 0) return fail("invalid_argument", "grace_period must not be negative");
  return store.transaction(async (tx) => {
    const found = await managedKey(tx, admin, keyId);
    if (!found.ok) return found;
    const old = found.value;
    const revoked = refuseRevoked(old, "rotated");
    if (revoked !== undefined) return revoked;
    // The new key holds what the old one does: rotating is issuing it again.
    const denied = checkAuthority(admin, old);
    if (denied !== undefined) return denied;
    if (old.rotatedToKeyId !== "") {
      return fail("failed_precondition", `key ${keyId} was already rotated to ${old.rotatedToKeyId}`);
    }
    if (old.status === "suspended")
      return fail("failed_precondition", `key ${keyId} is suspended: resume it first`);
    if (old.expireTime !== null && old.expireTime <= now) {
      return fail("failed_precondition", `key ${keyId} has expired and cannot be rotated`);
    }
    const workspace = await tx.findWorkspace(old.workspace);
    if (workspace === undefined) return fail("not_found", `workspace "${old.workspace}" not found`);
    const limited = await checkKeyLimit(tx, workspace, now, 1);
    if (limited !== undefined) return limited;

    const prepared = prepareKey(
      {
        workspace: old.workspace,
        name: old.name,
        description: old.description,
        scopes: old.scopes,
        classes: old.classes,
        environment: old.environment,
        prefix: prefixOfDisplay(old.keyPrefix),
        expireTime: undefined,
        ttlMs: old.expireTime === null ? undefined : old.expireTime - old.createTime,
        ownerId: old.ownerId,
        metadata: old.metadata,
      },
      now,
    );
    if (!prepared.ok) return prepared;
    // The replacement keeps the old key's limits as they are, credits left included.
    const key: ApiKey = { ...prepared.value.key, ...limitsOf(old), rotatedFromKeyId: keyId };
    const graceEnd = now + grace;
    const previous: ApiKey =
      grace === 0
        ? {
            ...old,
            rotatedToKeyId: key.keyId,
            status: "revoked",
            revokeTime: now,
            revokeReason: `rotated to ${key.keyId}`,
            updateTime: now,
          }
        : {
            ...old,
            rotatedToKeyId: key.keyId,
            expireTime: old.expireTime === null ? graceEnd : Math.min(old.expireTime, graceEnd),
            updateTime: now,
          };
    await tx.insertKey(key);
    await tx.updateKey(previous);
    await tx.recordEvent(
      auditEvent(caller, now, { workspace: key.workspace, action: "key.issued", targetId: key.keyId }),
    );
    await tx.recordEvent(
      auditEvent(caller, now, {
        workspace: key.workspace,
        action: "key.rotated",
        targetId: keyId,
        reason: `rotated to ${key.keyId}`,
      }),
    );
    return ok({ key, secret: prepared.value.secret, previous });
  });
}
