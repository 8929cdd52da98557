import { type Admin, checkAuthority } from "./admin-access.js";
import { auditEvent, type Caller } from "./audit.js";
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
  DEFAULT_PREFIX,
  displayPrefix,
  type Environment,
  generateKey,
  prefixError,
  randomBase62,
} from "./key-format.js";
import { hashKey } from "./key-hash.js";
import { checkKeyLimit } from "./key-limit.js";
import {
  type Credits,
  creditsError,
  monthlyQuotaError,
  normalizeCidrs,
  type RateLimit,
  rateLimitError,
} from "./key-limits.js";
import type { KeyStore, StoreTransaction } from "./key-store.js";
import { fail, type Outcome, ok } from "./outcome.js";
import { quoted, refuseKeyShaped } from "./secret-input.js";
import { DEFAULT_TIERS, type TierTable, tierError } from "./tiers.js";
import { DEFAULT_WORKSPACE, type Workspace, workspaceError } from "./workspace.js";

export { DEFAULT_WORKSPACE, workspaceError } from "./workspace.js";

/** What a caller asks for when issuing a key, already converted from the wire. */
export interface IssueKeyInput {
  readonly workspace: string;
  readonly name: string;
  readonly description: string;
  readonly scopes: readonly string[];
  readonly classes: readonly string[];
  /** undefined: the workspace's default environment. */
  readonly environment: Environment | undefined;
  /** "": the workspace's default prefix. */
  readonly prefix: string;
  readonly expireTime: number | undefined;
  readonly ttlMs: number | undefined;
  readonly ownerId: string;
  readonly metadata: Readonly<Record<string, string>>;
  /** Left out or "": the workspace's default tier. */
  readonly tier?: string;
  readonly rateLimit?: RateLimit | undefined;
  /** undefined: the workspace's default monthly quota. 0 is unlimited. */
  readonly monthlyQuota?: number | undefined;
  readonly credits?: Credits | undefined;
  /** CIDRs or bare addresses; none: any address. */
  readonly allowedCidrs?: readonly string[];
}

/** A new key and its secret; the secret is returned to the caller once and never stored. */
export interface IssuedKey {
  readonly key: ApiKey;
  readonly secret: string;
}

/** What a key gets when the request leaves prefix or environment out. */
export interface KeyDefaults {
  readonly prefix: string;
  readonly environment: Environment;
  /** The workspace's default_tier; "" for none. */
  readonly tier?: string;
  /** The workspace's default_monthly_quota; 0 for unlimited. */
  readonly monthlyQuota?: number;
}

const GLOBAL_DEFAULTS: KeyDefaults = { prefix: DEFAULT_PREFIX, environment: "live" };

/**
 * Validates the input and builds the key record and its secret, without storing anything. A tier
 * the input names must be in `tiers`; the workspace's default tier was checked when it was set.
 */
export function prepareKey(
  input: IssueKeyInput,
  now: number,
  defaults = GLOBAL_DEFAULTS,
  tiers: TierTable = DEFAULT_TIERS,
): Outcome<IssuedKey> {
  const workspace = input.workspace === "" ? DEFAULT_WORKSPACE : input.workspace;
  const error = inputError(input, workspace, now, tiers);
  if (error !== undefined) return fail("invalid_argument", error);
  const cidrs = normalizeCidrs(input.allowedCidrs ?? []);
  if ("error" in cidrs) return fail("invalid_argument", cidrs.error);
  const prefix = input.prefix === "" ? defaults.prefix || DEFAULT_PREFIX : input.prefix;
  const secret = generateKey(prefix, input.environment ?? defaults.environment);
  const expireTime = input.ttlMs !== undefined ? now + input.ttlMs : (input.expireTime ?? null);
  return ok({
    secret,
    key: {
      keyId: `key_${randomBase62(24)}`,
      workspace,
      name: input.name,
      description: input.description,
      keyPrefix: displayPrefix(secret),
      keyHash: hashKey(secret),
      scopes: [...new Set(input.scopes)],
      classes: [...new Set(input.classes)],
      environment: input.environment ?? defaults.environment,
      status: "active",
      createTime: now,
      expireTime,
      revokeTime: null,
      revokeReason: "",
      ownerId: input.ownerId,
      metadata: { ...input.metadata },
      updateTime: now,
      suspendTime: null,
      suspendReason: "",
      lastUsedTime: null,
      rotatedFromKeyId: "",
      rotatedToKeyId: "",
      tier: input.tier || defaults.tier || "",
      rateLimit: input.rateLimit,
      monthlyQuota: input.monthlyQuota ?? defaults.monthlyQuota ?? 0,
      credits: input.credits && { ...input.credits, setTime: now },
      allowedCidrs: cidrs.cidrs,
    },
  });
}

/**
 * Issues a key into an existing workspace, within its key limit, and records
 * `key.issued` in the same transaction.
 */
export async function issueKey(
  store: KeyStore,
  admin: Admin,
  caller: Caller,
  input: IssueKeyInput,
  now: number,
  tiers: TierTable = DEFAULT_TIERS,
): Promise<Outcome<IssuedKey>> {
  const workspaceId = input.workspace === "" ? DEFAULT_WORKSPACE : input.workspace;
  const refused = refuseKeyShaped("workspace", workspaceId); // before the lookup that would quote it
  if (refused !== undefined) return refused;
  const denied = checkAuthority(admin, { workspace: workspaceId, scopes: input.scopes });
  if (denied !== undefined) return denied;
  return store.transaction(async (tx) => {
    const workspace = await tx.findWorkspace(workspaceId);
    if (workspace === undefined) return fail("not_found", `workspace ${quoted(workspaceId, 64)} not found`);
    return issueKeyAs({ tx, caller, workspace, keyLimit: true, tiers }, input, now);
  });
}

/** Who issues a key where, once allowed to: IssueKey checked the caller's authority; bootstrap needs none. */
export interface Issuer {
  /** The caller's transaction: the key and its audit event stand or fall with the rest of it. */
  readonly tx: StoreTransaction;
  readonly caller: Caller;
  /** The stored workspace of the key; its defaults apply to what the input leaves out. */
  readonly workspace: Workspace;
  /**
   * Whether the workspace's max_keys applies. Not to `keyward bootstrap`, the operator's way in
   * with direct access to the store: a full workspace does not keep its operator out.
   */
  readonly keyLimit: boolean;
  /** The tiers a key may name (config.tiers). */
  readonly tiers: TierTable;
}

/**
 * The part of issuing a key that IssueKey and `keyward bootstrap` share: builds the key
 * (refusing an invalid input), checks the key limit, stores the key and records `key.issued`.
 */
export async function issueKeyAs(
  issuer: Issuer,
  input: IssueKeyInput,
  now: number,
): Promise<Outcome<IssuedKey>> {
  const { tx, workspace } = issuer;
  const prepared = prepareKey(
    input,
    now,
    {
      prefix: workspace.defaultKeyPrefix,
      environment: workspace.defaultEnvironment,
      tier: workspace.defaultTier,
      monthlyQuota: workspace.defaultMonthlyQuota,
    },
    issuer.tiers,
  );
  if (!prepared.ok) return prepared;
  const limited = issuer.keyLimit ? await checkKeyLimit(tx, workspace, now, 1) : undefined;
  if (limited !== undefined) return limited;
  const key = prepared.value.key;
  await tx.insertKey(key);
  await tx.recordEvent(
    auditEvent(issuer.caller, now, { workspace: key.workspace, action: "key.issued", targetId: key.keyId }),
  );
  return prepared;
}

function inputError(
  input: IssueKeyInput,
  workspace: string,
  now: number,
  tiers: TierTable,
): string | undefined {
  const error =
    nameError(input.name) ??
    descriptionError(input.description) ??
    workspaceError(workspace) ??
    (input.prefix === "" ? undefined : prefixError(input.prefix)) ??
    scopeListError(input.scopes) ??
    classesError(input.classes);
  if (error !== undefined) return error;
  if (input.expireTime !== undefined && input.ttlMs !== undefined) return "set expire_time or ttl, not both";
  if (input.expireTime !== undefined && input.expireTime <= now) return "expire_time must be in the future";
  if (input.ttlMs !== undefined && input.ttlMs <= 0) return "ttl must be positive";
  return (
    ownerIdError(input.ownerId) ??
    metadataError(input.metadata) ??
    (input.tier ? tierError(tiers, input.tier) : undefined) ??
    rateLimitError(input.rateLimit) ??
    monthlyQuotaError(input.monthlyQuota) ??
    creditsError(input.credits)
  );
}
