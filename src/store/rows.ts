import type { Insertable, Selectable } from "kysely";
import type { AuditAction, AuditEvent } from "../domain/audit.js";
import type { ApiKey, KeyStatus } from "../domain/key.js";
import type { Environment } from "../domain/key-format.js";
import { type Credits, NO_LIMITS, type RateLimit, type RefillInterval } from "../domain/key-limits.js";
import type { Workspace, WorkspaceStatus } from "../domain/workspace.js";
import type { ApiKeyTable, AuditEventTable, WorkspaceTable } from "./schema.js";

// Row ↔ domain, in one place. Numbers may come back as strings from some drivers (bigint), hence Number().

const time = (value: number | string) => Number(value);
const optionalTime = (value: number | string | null) => (value === null ? null : Number(value));

export function keyFromRow(row: Selectable<ApiKeyTable>): ApiKey {
  return {
    keyId: row.key_id,
    workspace: row.workspace,
    name: row.name,
    description: row.description,
    keyPrefix: row.key_prefix,
    keyHash: row.key_hash,
    scopes: JSON.parse(row.scopes) as string[],
    classes: JSON.parse(row.classes) as string[],
    environment: row.environment as Environment,
    status: row.status as KeyStatus,
    createTime: time(row.create_time),
    expireTime: optionalTime(row.expire_time),
    revokeTime: optionalTime(row.revoke_time),
    revokeReason: row.revoke_reason,
    ownerId: row.owner_id,
    metadata: JSON.parse(row.metadata) as Record<string, string>,
    updateTime: time(row.update_time),
    suspendTime: optionalTime(row.suspend_time),
    suspendReason: row.suspend_reason,
    lastUsedTime: optionalTime(row.last_used_time),
    rotatedFromKeyId: row.rotated_from_key_id,
    rotatedToKeyId: row.rotated_to_key_id,
    tier: row.tier,
    rateLimit: rateLimitFromRow(row),
    monthlyQuota: Number(row.monthly_quota),
    credits: creditsFromRow(row),
    allowedCidrs: cidrsFromRow(row.allowed_cidrs),
  };
}

/** The columns that hold a key's limits, as read by keyFromRow and the hot lookup. */
export type LimitColumns = Pick<
  Selectable<ApiKeyTable>,
  | "rate_limit"
  | "rate_limit_window_ms"
  | "credits_remaining"
  | "credits_set_time"
  | "credit_refill_amount"
  | "credit_refill_interval"
>;

export function rateLimitFromRow(row: LimitColumns): RateLimit | undefined {
  if (row.rate_limit === null || row.rate_limit_window_ms === null) return undefined;
  return { limit: Number(row.rate_limit), windowMs: Number(row.rate_limit_window_ms) };
}

export function creditsFromRow(row: LimitColumns): Credits | undefined {
  if (row.credits_remaining === null) return undefined;
  const refill =
    row.credit_refill_amount === null || row.credit_refill_interval === ""
      ? undefined
      : {
          amount: Number(row.credit_refill_amount),
          interval: row.credit_refill_interval as RefillInterval,
        };
  const setTime = row.credits_set_time === null ? undefined : Number(row.credits_set_time);
  return { remaining: Number(row.credits_remaining), refill, setTime };
}

/** Most keys allow any address: they share one empty list instead of parsing "[]". */
export function cidrsFromRow(text: string): readonly string[] {
  return text === "[]" ? NO_LIMITS.allowedCidrs : (JSON.parse(text) as string[]);
}

export function rowFromKey(key: ApiKey): Insertable<ApiKeyTable> {
  return {
    key_id: key.keyId,
    workspace: key.workspace,
    name: key.name,
    description: key.description,
    key_prefix: key.keyPrefix,
    key_hash: key.keyHash,
    scopes: JSON.stringify(key.scopes),
    classes: JSON.stringify(key.classes),
    environment: key.environment,
    status: key.status,
    create_time: key.createTime,
    expire_time: key.expireTime,
    revoke_time: key.revokeTime,
    revoke_reason: key.revokeReason,
    owner_id: key.ownerId,
    metadata: JSON.stringify(key.metadata),
    update_time: key.updateTime,
    suspend_time: key.suspendTime,
    suspend_reason: key.suspendReason,
    last_used_time: key.lastUsedTime,
    rotated_from_key_id: key.rotatedFromKeyId,
    rotated_to_key_id: key.rotatedToKeyId,
    tier: key.tier,
    rate_limit: key.rateLimit?.limit ?? null,
    rate_limit_window_ms: key.rateLimit?.windowMs ?? null,
    monthly_quota: key.monthlyQuota,
    credits_remaining: key.credits?.remaining ?? null,
    credits_set_time: key.credits?.setTime ?? null,
    credit_refill_amount: key.credits?.refill?.amount ?? null,
    credit_refill_interval: key.credits?.refill?.interval ?? "",
    allowed_cidrs: JSON.stringify(key.allowedCidrs),
  };
}

export function workspaceFromRow(row: Selectable<WorkspaceTable>): Workspace {
  return {
    workspaceId: row.workspace_id,
    displayName: row.display_name,
    maxKeys: Number(row.max_keys),
    defaultKeyPrefix: row.default_key_prefix,
    defaultEnvironment: row.default_environment as Environment,
    defaultTier: row.default_tier,
    defaultMonthlyQuota: Number(row.default_monthly_quota),
    status: row.status as WorkspaceStatus,
    createTime: time(row.create_time),
    updateTime: time(row.update_time),
    suspendTime: optionalTime(row.suspend_time),
    suspendReason: row.suspend_reason,
  };
}

export function rowFromWorkspace(workspace: Workspace): Insertable<WorkspaceTable> {
  return {
    workspace_id: workspace.workspaceId,
    display_name: workspace.displayName,
    max_keys: workspace.maxKeys,
    default_key_prefix: workspace.defaultKeyPrefix,
    default_environment: workspace.defaultEnvironment,
    default_tier: workspace.defaultTier,
    default_monthly_quota: workspace.defaultMonthlyQuota,
    status: workspace.status,
    create_time: workspace.createTime,
    update_time: workspace.updateTime,
    suspend_time: workspace.suspendTime,
    suspend_reason: workspace.suspendReason,
  };
}

export function eventFromRow(row: Selectable<AuditEventTable>): AuditEvent {
  return {
    eventId: row.event_id,
    time: time(row.time),
    workspace: row.workspace,
    actorKeyId: row.actor_key_id,
    action: row.action as AuditAction,
    targetId: row.target_id,
    changedFields: JSON.parse(row.changed_fields) as string[],
    peer: row.peer,
    userAgent: row.user_agent,
    reason: row.reason,
  };
}

export function rowFromEvent(event: AuditEvent): Insertable<AuditEventTable> {
  return {
    event_id: event.eventId,
    time: event.time,
    workspace: event.workspace,
    actor_key_id: event.actorKeyId,
    action: event.action,
    target_id: event.targetId,
    changed_fields: JSON.stringify(event.changedFields),
    peer: event.peer,
    user_agent: event.userAgent,
    reason: event.reason,
  };
}
