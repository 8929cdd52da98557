import { type Admin, checkAuthority } from "./admin-access.js";
import type { Caller } from "./audit.js";
import { changeKey, unchanged } from "./change-key.js";
import type { ApiKey } from "./key.js";
import {
  classesError,
  descriptionError,
  metadataError,
  nameError,
  ownerIdError,
  scopeListError,
} from "./key-fields.js";
import {
  type Credits,
  creditsError,
  monthlyQuotaError,
  normalizeCidrs,
  type RateLimit,
  rateLimitError,
} from "./key-limits.js";
import type { KeyStore } from "./key-store.js";
import { refuseRevoked } from "./managed-key.js";
import { fail, type Outcome, ok } from "./outcome.js";
import { DEFAULT_TIERS, type TierTable, tierError } from "./tiers.js";

/** The fields UpdateKey may change, by their proto names (the update_mask paths). The secret is not one. */
export const UPDATABLE_KEY_FIELDS = [
  "name",
  "description",
  "scopes",
  "classes",
  "expire_time",
  "owner_id",
  "metadata",
  "tier",
  "rate_limit",
  "monthly_quota",
  "credits",
  "allowed_cidrs",
] as const;
export type UpdatableKeyField = (typeof UPDATABLE_KEY_FIELDS)[number];

/** New values for the masked fields only; an absent property is left as it is. */
export interface KeyUpdate {
  readonly name?: string;
  readonly description?: string;
  readonly scopes?: readonly string[];
  readonly classes?: readonly string[];
  /** null clears the expiry. An expiry in the past is allowed: it expires the key now. */
  readonly expireTime?: number | null;
  readonly ownerId?: string;
  readonly metadata?: Readonly<Record<string, string>>;
  /** "" removes the tier. */
  readonly tier?: string;
  /** null removes the key's own rate limit (its tier's applies). */
  readonly rateLimit?: RateLimit | null;
  readonly monthlyQuota?: number;
  /** null: the key is no longer credit-limited. */
  readonly credits?: Credits | null;
  /** Empty: any address. */
  readonly allowedCidrs?: readonly string[];
}

/**
 * Changes the given fields of a key that is not revoked, records `key.updated`
 * with the names of the fields whose values changed, and returns the new record.
 * Nothing changed → the key is returned as it was and no event is written.
 */
export async function updateKey(
  store: KeyStore,
  admin: Admin,
  caller: Caller,
  keyId: string,
  update: KeyUpdate,
  now: number,
  tiers: TierTable = DEFAULT_TIERS,
): Promise<Outcome<ApiKey>> {
  const error = updateError(update, tiers);
  if (error !== undefined) return fail("invalid_argument", error);
  const cidrs = update.allowedCidrs === undefined ? undefined : normalizeCidrs(update.allowedCidrs);
  if (cidrs !== undefined && "error" in cidrs) return fail("invalid_argument", cidrs.error);
  const normalized: KeyUpdate = cidrs === undefined ? update : { ...update, allowedCidrs: cidrs.cidrs };
  return changeKey(store, admin, caller, keyId, now, (key) => {
    const revoked = refuseRevoked(key, "updated");
    if (revoked !== undefined) return revoked;
    const next = withUpdate(key, normalized, now);
    // Judged on the key as it will be, so that a workspace admin cannot widen it, nor keep a grant it could not give.
    const denied = checkAuthority(admin, next);
    if (denied !== undefined) return denied;
    const changed = changedFields(key, next);
    return changed.length === 0
      ? unchanged
      : ok({ next, event: { action: "key.updated", changedFields: changed } });
  });
}

/** The key with the update's fields applied (scopes and classes without duplicates). */
function withUpdate(key: ApiKey, update: KeyUpdate, now: number): ApiKey {
  return {
    ...key,
    ...(update.name !== undefined && { name: update.name }),
    ...(update.description !== undefined && { description: update.description }),
    ...(update.scopes !== undefined && { scopes: [...new Set(update.scopes)] }),
    ...(update.classes !== undefined && { classes: [...new Set(update.classes)] }),
    ...(update.expireTime !== undefined && { expireTime: update.expireTime }),
    ...(update.ownerId !== undefined && { ownerId: update.ownerId }),
    ...(update.metadata !== undefined && { metadata: { ...update.metadata } }),
    ...(update.tier !== undefined && { tier: update.tier }),
    ...(update.rateLimit !== undefined && { rateLimit: update.rateLimit ?? undefined }),
    ...(update.monthlyQuota !== undefined && { monthlyQuota: update.monthlyQuota }),
    ...(update.credits !== undefined && {
      credits: update.credits ? { ...update.credits, setTime: now } : undefined,
    }),
    ...(update.allowedCidrs !== undefined && { allowedCidrs: update.allowedCidrs }),
  };
}

function updateError(update: KeyUpdate, tiers: TierTable): string | undefined {
  return (
    (update.name !== undefined ? nameError(update.name) : undefined) ??
    (update.description !== undefined ? descriptionError(update.description) : undefined) ??
    (update.scopes !== undefined ? scopeListError(update.scopes) : undefined) ??
    (update.classes !== undefined ? classesError(update.classes) : undefined) ??
    (update.ownerId !== undefined ? ownerIdError(update.ownerId) : undefined) ??
    (update.metadata !== undefined ? metadataError(update.metadata) : undefined) ??
    (update.tier ? tierError(tiers, update.tier) : undefined) ??
    rateLimitError(update.rateLimit ?? undefined) ??
    monthlyQuotaError(update.monthlyQuota) ??
    creditsError(update.credits ?? undefined)
  );
}

function changedFields(before: ApiKey, after: ApiKey): UpdatableKeyField[] {
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  const pairs: [UpdatableKeyField, unknown, unknown][] = [
    ["name", before.name, after.name],
    ["description", before.description, after.description],
    ["scopes", before.scopes, after.scopes],
    ["classes", before.classes, after.classes],
    ["expire_time", before.expireTime, after.expireTime],
    ["owner_id", before.ownerId, after.ownerId],
    ["metadata", sortedEntries(before.metadata), sortedEntries(after.metadata)],
    // The audit trail records limit changes (issue 12) like any other field.
    ["tier", before.tier, after.tier],
    ["rate_limit", before.rateLimit ?? null, after.rateLimit ?? null],
    ["monthly_quota", before.monthlyQuota, after.monthlyQuota],
    ["credits", before.credits ?? null, after.credits ?? null],
    ["allowed_cidrs", before.allowedCidrs, after.allowedCidrs],
  ];
  return pairs.filter(([, a, b]) => !same(a, b)).map(([field]) => field);
}

function sortedEntries(record: Readonly<Record<string, string>>): [string, string][] {
  return Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}
