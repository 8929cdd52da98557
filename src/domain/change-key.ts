import type { Admin } from "./admin-access.js";
import { type AuditAction, type AuditEvent, auditEvent, type Caller } from "./audit.js";
import type { ApiKey } from "./key.js";
import type { KeyStore } from "./key-store.js";
import { managedKey } from "./managed-key.js";
import { fail, type Outcome, ok, type Refusal } from "./outcome.js";
import { refuseKeyShaped } from "./secret-input.js";

/** The longest reason a revocation or suspension (of a key or a workspace) may give. */
export const REASON_MAX = 500;

/** A key's next state and what its audit event says beyond who, when, where and which key. */
export interface KeyChange {
  /** The whole record as it will be; changeKey sets its updateTime. */
  readonly next: ApiKey;
  readonly event: { readonly action: Extract<AuditAction, `key.${string}`> } & Partial<
    Pick<AuditEvent, "changedFields" | "reason">
  >;
}

/** What `decide` answers: a refusal, a change, or undefined when there is nothing to change. */
export type KeyDecision = Outcome<KeyChange | undefined>;

/** "Nothing to change": the key is returned as it is, and no event is written (so retries are safe). */
export const unchanged: KeyDecision = ok(undefined);

/**
 * Read-check-write of one key with its audit event, in one transaction: finds a key the admin
 * may manage, asks `decide` what becomes of it, and stores that. The cache forgets the key
 * when the transaction ends (cache/cached-key-store.ts evicts on updateKey).
 */
export async function changeKey(
  store: KeyStore,
  admin: Admin,
  caller: Caller,
  keyId: string,
  now: number,
  decide: (key: ApiKey) => KeyDecision,
): Promise<Outcome<ApiKey>> {
  return store.transaction(async (tx) => {
    const found = await managedKey(tx, admin, keyId);
    if (!found.ok) return found;
    const decided = decide(found.value);
    if (!decided.ok) return decided;
    const change = decided.value;
    if (change === undefined) return found;
    const next: ApiKey = { ...change.next, updateTime: now };
    await tx.updateKey(next);
    await tx.recordEvent(
      auditEvent(caller, now, { workspace: next.workspace, targetId: keyId, ...change.event }),
    );
    return ok(next);
  });
}

/** A reason that is too long or carries a key, refused as invalid_argument; undefined when it is fine. */
export function refuseReason(reason: string): Refusal | undefined {
  if (reason.length > REASON_MAX)
    return fail("invalid_argument", `reason is longer than ${REASON_MAX} characters`);
  return refuseKeyShaped("reason", reason);
}
