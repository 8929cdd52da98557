import { type Admin, checkWorkspace, requireGlobal } from "./admin-access.js";
import { auditEvent, type Caller } from "./audit.js";
import { refuseReason } from "./change-key.js";
import { prefixError } from "./key-format.js";
import { monthlyQuotaError } from "./key-limits.js";
import type { KeyStore, StoreReader } from "./key-store.js";
import { fail, type Outcome, ok } from "./outcome.js";
import { pageOf, pageRequest } from "./page-token.js";
import { keyShapedError, quoted, refuseKeyShaped } from "./secret-input.js";
import { DEFAULT_TIERS, type TierTable, tierError } from "./tiers.js";
import {
  newWorkspace,
  SYSTEM_WORKSPACE,
  type Workspace,
  type WorkspaceSettings,
  workspaceError,
} from "./workspace.js";

/** The settings UpdateWorkspace may change, by their proto names (the update_mask paths). */
export const UPDATABLE_WORKSPACE_FIELDS = [
  "display_name",
  "max_keys",
  "default_key_prefix",
  "default_environment",
  "default_tier",
  "default_monthly_quota",
] as const;

const SETTINGS: readonly [(typeof UPDATABLE_WORKSPACE_FIELDS)[number], keyof Workspace][] = [
  ["display_name", "displayName"],
  ["max_keys", "maxKeys"],
  ["default_key_prefix", "defaultKeyPrefix"],
  ["default_environment", "defaultEnvironment"],
  ["default_tier", "defaultTier"],
  ["default_monthly_quota", "defaultMonthlyQuota"],
];

/** A workspace and the number of its keys active now (counted against max_keys). */
export interface WorkspaceView {
  readonly workspace: Workspace;
  readonly activeKeys: number;
}

export async function createWorkspace(
  store: KeyStore,
  admin: Admin,
  caller: Caller,
  workspaceId: string,
  settings: WorkspaceSettings,
  now: number,
  tiers: TierTable = DEFAULT_TIERS,
): Promise<Outcome<WorkspaceView>> {
  const denied = requireGlobal(admin);
  if (denied !== undefined) return denied;
  const error = workspaceError(workspaceId) ?? settingsError(settings, tiers);
  if (error !== undefined) return fail("invalid_argument", error);
  return store.transaction(async (tx) => {
    if ((await tx.findWorkspace(workspaceId)) !== undefined) {
      return fail("already_exists", `workspace ${quoted(workspaceId, 64)} already exists`);
    }
    const workspace = newWorkspace(workspaceId, now, settings);
    await tx.insertWorkspace(workspace);
    await tx.recordEvent(
      auditEvent(caller, now, { workspace: workspaceId, action: "workspace.created", targetId: workspaceId }),
    );
    return ok({ workspace, activeKeys: 0 });
  });
}

/** A workspace admin may read its own workspace; a global admin any. */
export async function getWorkspace(
  store: KeyStore,
  admin: Admin,
  workspaceId: string,
  now: number,
): Promise<Outcome<WorkspaceView>> {
  const denied = refuseKeyShaped("workspace_id", workspaceId) ?? checkWorkspace(admin, workspaceId);
  if (denied !== undefined) return denied;
  return view(store, workspaceId, now);
}

export async function listWorkspaces(
  store: KeyStore,
  admin: Admin,
  requestedSize: number,
  pageToken: string,
  now: number,
): Promise<Outcome<{ workspaces: WorkspaceView[]; nextPageToken: string; totalSize: number }>> {
  const denied = requireGlobal(admin);
  if (denied !== undefined) return denied;
  const request = pageRequest(requestedSize, pageToken, ["workspaces"]);
  if (!request.ok) return request;
  const { workspaces, total } = await store.listWorkspaces(request.value.cursor?.id, request.value.size + 1);
  const { page, nextPageToken } = pageOf(workspaces, request.value, (workspace) => ({
    time: 0,
    id: workspace.workspaceId,
  }));
  const views = await Promise.all(
    page.map(async (workspace) => ({
      workspace,
      activeKeys: await store.countActiveKeys(workspace.workspaceId, now),
    })),
  );
  return ok({ workspaces: views, nextPageToken, totalSize: total });
}

export async function updateWorkspace(
  store: KeyStore,
  admin: Admin,
  caller: Caller,
  workspaceId: string,
  settings: WorkspaceSettings,
  now: number,
  tiers: TierTable = DEFAULT_TIERS,
): Promise<Outcome<WorkspaceView>> {
  const denied = requireGlobal(admin);
  if (denied !== undefined) return denied;
  const error = settingsError(settings, tiers);
  if (error !== undefined) return fail("invalid_argument", error);
  return change(store, caller, workspaceId, now, (workspace) => {
    const next = { ...workspace, ...settings };
    const changed = SETTINGS.filter(([, field]) => next[field] !== workspace[field]).map(([path]) => path);
    return changed.length === 0 ? undefined : { next, action: "workspace.updated", changedFields: changed };
  });
}

/** Suspends a workspace: all its keys are denied, its admins can no longer manage keys. */
export async function suspendWorkspace(
  store: KeyStore,
  admin: Admin,
  caller: Caller,
  workspaceId: string,
  reason: string,
  now: number,
): Promise<Outcome<WorkspaceView>> {
  const denied = requireGlobal(admin);
  if (denied !== undefined) return denied;
  const refused = refuseReason(reason);
  if (refused !== undefined) return refused;
  if (workspaceId === SYSTEM_WORKSPACE) {
    return fail("failed_precondition", `the system workspace "${SYSTEM_WORKSPACE}" cannot be suspended`);
  }
  return change(store, caller, workspaceId, now, (workspace) =>
    workspace.status === "suspended"
      ? undefined
      : {
          next: { ...workspace, status: "suspended", suspendTime: now, suspendReason: reason },
          action: "workspace.suspended",
          reason,
        },
  );
}

export async function resumeWorkspace(
  store: KeyStore,
  admin: Admin,
  caller: Caller,
  workspaceId: string,
  now: number,
): Promise<Outcome<WorkspaceView>> {
  const denied = requireGlobal(admin);
  if (denied !== undefined) return denied;
  return change(store, caller, workspaceId, now, (workspace) =>
    workspace.status === "active"
      ? undefined
      : {
          next: { ...workspace, status: "active", suspendTime: null, suspendReason: "" },
          action: "workspace.resumed",
        },
  );
}

interface WorkspaceChange {
  readonly next: Workspace;
  readonly action: "workspace.updated" | "workspace.suspended" | "workspace.resumed";
  readonly changedFields?: readonly string[];
  readonly reason?: string;
}

/** Read-modify-write of one workspace with its audit event; `decide` returns undefined for "no change". */
async function change(
  store: KeyStore,
  caller: Caller,
  workspaceId: string,
  now: number,
  decide: (workspace: Workspace) => WorkspaceChange | undefined,
): Promise<Outcome<WorkspaceView>> {
  const refused = refuseKeyShaped("workspace_id", workspaceId);
  if (refused !== undefined) return refused;
  return store.transaction(async (tx) => {
    const workspace = await tx.findWorkspace(workspaceId);
    if (workspace === undefined) return fail("not_found", `workspace ${quoted(workspaceId, 64)} not found`);
    const decided = decide(workspace);
    if (decided !== undefined) {
      await tx.updateWorkspace({ ...decided.next, updateTime: now });
      await tx.recordEvent(
        auditEvent(caller, now, {
          workspace: workspaceId,
          action: decided.action,
          targetId: workspaceId,
          ...(decided.changedFields && { changedFields: decided.changedFields }),
          ...(decided.reason !== undefined && { reason: decided.reason }),
        }),
      );
    }
    return view(tx, workspaceId, now);
  });
}

async function view(reader: StoreReader, workspaceId: string, now: number): Promise<Outcome<WorkspaceView>> {
  const workspace = await reader.findWorkspace(workspaceId);
  if (workspace === undefined) return fail("not_found", `workspace ${quoted(workspaceId, 64)} not found`);
  return ok({ workspace, activeKeys: await reader.countActiveKeys(workspaceId, now) });
}

function settingsError(settings: WorkspaceSettings, tiers: TierTable): string | undefined {
  if (settings.displayName !== undefined && [...settings.displayName].length > 200) {
    return "display_name is longer than 200 characters";
  }
  if (settings.displayName !== undefined) {
    const keyShaped = keyShapedError("display_name", settings.displayName);
    if (keyShaped !== undefined) return keyShaped;
  }
  if (settings.maxKeys !== undefined && (!Number.isInteger(settings.maxKeys) || settings.maxKeys < 0)) {
    return "max_keys must be 0 (no limit) or more";
  }
  const prefix = settings.defaultKeyPrefix ? prefixError(settings.defaultKeyPrefix) : undefined;
  if (prefix !== undefined) return prefix;
  if (settings.defaultTier) {
    const unknown = tierError(tiers, settings.defaultTier);
    if (unknown !== undefined) return `default_tier: ${unknown}`;
  }
  const quota = monthlyQuotaError(settings.defaultMonthlyQuota);
  return quota === undefined ? undefined : `default_${quota}`;
}
