import { EnvironmentSchema } from "../gen/keyward/v1/key_pb.js";
import { type Workspace, WorkspaceStatusSchema } from "../gen/keyward/v1/workspace_service_pb.js";
import { enumName, formatTime, printFields, printTable } from "./output.js";

// How a workspace reads on a terminal. Unset defaults are shown with what they mean (workspace_service.proto).

/** Workspaces as a table, one row each. */
export function printWorkspaceTable(workspaces: readonly Workspace[]): void {
  printTable(
    ["WORKSPACE", "DISPLAY NAME", "STATUS", "KEYS", "PREFIX", "ENV", "CREATED"],
    workspaces.map((workspace) => [
      workspace.workspaceId,
      workspace.displayName || "-",
      enumName(WorkspaceStatusSchema, workspace.status),
      // Active keys against the limit: what decides whether the next IssueKey is refused.
      `${workspace.activeKeys}/${workspace.maxKeys === 0 ? "∞" : workspace.maxKeys}`,
      workspace.defaultKeyPrefix || "kw",
      defaultEnvironment(workspace),
      formatTime(workspace.createTime),
    ]),
  );
}

/** One workspace, `field: value`, with the contract's field names. */
export function printWorkspace(workspace: Workspace): void {
  printFields([
    ["workspace_id", workspace.workspaceId],
    ["display_name", workspace.displayName || undefined],
    ["status", enumName(WorkspaceStatusSchema, workspace.status)],
    ["active_keys", String(workspace.activeKeys)],
    ["max_keys", workspace.maxKeys === 0 ? "no limit" : String(workspace.maxKeys)],
    ["default_key_prefix", workspace.defaultKeyPrefix || "kw (unset)"],
    [
      "default_environment",
      workspace.defaultEnvironment === 0 ? "live (unset)" : defaultEnvironment(workspace),
    ],
    ["default_tier", workspace.defaultTier || "none"],
    [
      "default_monthly_quota",
      workspace.defaultMonthlyQuota === 0n ? "unlimited" : String(workspace.defaultMonthlyQuota),
    ],
    ["create_time", formatTime(workspace.createTime)],
    ["update_time", workspace.updateTime && formatTime(workspace.updateTime)],
    ["suspend_time", workspace.suspendTime && formatTime(workspace.suspendTime)],
    ["suspend_reason", workspace.suspendReason || undefined],
  ]);
}

function defaultEnvironment(workspace: Workspace): string {
  return workspace.defaultEnvironment === 0
    ? "live"
    : enumName(EnvironmentSchema, workspace.defaultEnvironment).toLowerCase();
}
