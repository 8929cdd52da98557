import { create } from "@bufbuild/protobuf";
import { type FieldMask, timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { AuditEvent as DomainAuditEvent } from "../domain/audit.js";
import { UPDATABLE_WORKSPACE_FIELDS, type WorkspaceView } from "../domain/manage-workspaces.js";
import { fail, type Outcome, ok } from "../domain/outcome.js";
import { quoted } from "../domain/secret-input.js";
import { type KeyUpdate, UPDATABLE_KEY_FIELDS } from "../domain/update-key.js";
import type { WorkspaceSettings } from "../domain/workspace.js";
import { type AuditEvent, AuditEventSchema } from "../gen/keyward/v1/audit_service_pb.js";
import type { Key } from "../gen/keyward/v1/key_pb.js";
import { type Workspace, WorkspaceSchema, WorkspaceStatus } from "../gen/keyward/v1/workspace_service_pb.js";
import { environmentFromProto, environmentToProto, timestampToMs } from "./convert.js";
import { creditsFromProto, int64, rateLimitFromProto } from "./convert-limits.js";

// Wire ↔ domain for the management messages: update masks, workspaces, audit events.

/** The masked fields of `key` as a domain update; unknown or duplicate paths are refused. */
export function keyUpdateFromProto(key: Key, mask: FieldMask | undefined): Outcome<KeyUpdate> {
  const paths = maskPaths(mask, UPDATABLE_KEY_FIELDS);
  if (!paths.ok) return paths;
  const update: { -readonly [K in keyof KeyUpdate]: KeyUpdate[K] } = {};
  for (const path of paths.value) {
    switch (path) {
      case "name":
        update.name = key.name;
        break;
      case "description":
        update.description = key.description;
        break;
      case "scopes":
        update.scopes = key.scopes;
        break;
      case "classes":
        update.classes = key.classes;
        break;
      case "expire_time": {
        if (key.expireTime === undefined) {
          update.expireTime = null; // unset in the message: the key no longer expires
          break;
        }
        const ms = timestampToMs(key.expireTime, "expire_time");
        if (!ms.ok) return ms;
        update.expireTime = ms.value;
        break;
      }
      case "owner_id":
        update.ownerId = key.ownerId;
        break;
      case "metadata":
        update.metadata = key.metadata;
        break;
      case "tier":
        update.tier = key.tier;
        break;
      case "rate_limit": {
        if (key.rateLimit === undefined) {
          update.rateLimit = null; // unset in the message: the tier's limit applies again
          break;
        }
        const rateLimit = rateLimitFromProto(key.rateLimit, "rate_limit");
        if (!rateLimit.ok) return rateLimit;
        update.rateLimit = rateLimit.value;
        break;
      }
      case "monthly_quota": {
        const quota = int64(key.monthlyQuota, "monthly_quota");
        if (!quota.ok) return quota;
        update.monthlyQuota = quota.value;
        break;
      }
      case "credits": {
        if (key.credits === undefined) {
          update.credits = null; // unset in the message: no longer credit-limited
          break;
        }
        const credits = creditsFromProto(key.credits);
        if (!credits.ok) return credits;
        update.credits = credits.value;
        break;
      }
      case "allowed_cidrs":
        update.allowedCidrs = key.allowedCidrs;
        break;
    }
  }
  return ok(update);
}

/** The masked settings of `workspace`. Without a mask (CreateWorkspace) every setting is taken. */
export function workspaceSettingsFromProto(
  workspace: Workspace,
  mask: FieldMask | undefined,
): Outcome<WorkspaceSettings> {
  const paths =
    mask === undefined ? ok(UPDATABLE_WORKSPACE_FIELDS) : maskPaths(mask, UPDATABLE_WORKSPACE_FIELDS);
  if (!paths.ok) return paths;
  const settings: { -readonly [K in keyof WorkspaceSettings]: WorkspaceSettings[K] } = {};
  for (const path of paths.value) {
    switch (path) {
      case "display_name":
        settings.displayName = workspace.displayName;
        break;
      case "max_keys":
        settings.maxKeys = workspace.maxKeys;
        break;
      case "default_key_prefix":
        settings.defaultKeyPrefix = workspace.defaultKeyPrefix;
        break;
      case "default_environment": {
        const environment = environmentFromProto(workspace.defaultEnvironment);
        if (!environment.ok) return environment;
        settings.defaultEnvironment = environment.value ?? "live";
        break;
      }
      case "default_tier":
        settings.defaultTier = workspace.defaultTier;
        break;
      case "default_monthly_quota": {
        const quota = int64(workspace.defaultMonthlyQuota, "default_monthly_quota");
        if (!quota.ok) return quota;
        settings.defaultMonthlyQuota = quota.value;
        break;
      }
    }
  }
  return ok(settings);
}

export function workspaceToProto({ workspace, activeKeys }: WorkspaceView): Workspace {
  return create(WorkspaceSchema, {
    workspaceId: workspace.workspaceId,
    displayName: workspace.displayName,
    maxKeys: workspace.maxKeys,
    defaultKeyPrefix: workspace.defaultKeyPrefix,
    defaultEnvironment: environmentToProto(workspace.defaultEnvironment),
    status: workspace.status === "active" ? WorkspaceStatus.ACTIVE : WorkspaceStatus.SUSPENDED,
    createTime: timestampFromMs(workspace.createTime),
    updateTime: timestampFromMs(workspace.updateTime),
    ...(workspace.suspendTime !== null && { suspendTime: timestampFromMs(workspace.suspendTime) }),
    suspendReason: workspace.suspendReason,
    activeKeys,
    defaultTier: workspace.defaultTier,
    defaultMonthlyQuota: BigInt(workspace.defaultMonthlyQuota),
  });
}

export function auditEventToProto(event: DomainAuditEvent): AuditEvent {
  return create(AuditEventSchema, {
    eventId: event.eventId,
    time: timestampFromMs(event.time),
    workspace: event.workspace,
    actorKeyId: event.actorKeyId,
    action: event.action,
    targetId: event.targetId,
    changedFields: [...event.changedFields],
    peer: event.peer,
    userAgent: event.userAgent,
    reason: event.reason,
  });
}

function maskPaths<P extends string>(
  mask: FieldMask | undefined,
  allowed: readonly P[],
): Outcome<readonly P[]> {
  if (mask === undefined || mask.paths.length === 0) {
    return fail("invalid_argument", `update_mask is required: paths among ${allowed.join(", ")}`);
  }
  for (const path of mask.paths) {
    if (!(allowed as readonly string[]).includes(path)) {
      return fail(
        "invalid_argument",
        `update_mask path ${quoted(path, 64)} is not one of ${allowed.join(", ")}`,
      );
    }
  }
  return ok([...new Set(mask.paths)] as P[]);
}
