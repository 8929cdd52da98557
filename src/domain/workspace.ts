import type { Environment } from "./key-format.js";
import { keyShapedError, quoted } from "./secret-input.js";

export type WorkspaceStatus = "active" | "suspended";

/** A tenant: its keys, their limit and their defaults. Times are milliseconds since the epoch. */
export interface Workspace {
  readonly workspaceId: string;
  readonly displayName: string;
  /** Most keys active at once (not revoked, not expired); 0 for no limit. */
  readonly maxKeys: number;
  /** "" for the global default, `kw`. */
  readonly defaultKeyPrefix: string;
  readonly defaultEnvironment: Environment;
  /** Tier of keys issued without one; "" for none. */
  readonly defaultTier: string;
  /** Monthly quota of keys issued without one; 0 for unlimited. */
  readonly defaultMonthlyQuota: number;
  readonly status: WorkspaceStatus;
  readonly createTime: number;
  readonly updateTime: number;
  readonly suspendTime: number | null;
  readonly suspendReason: string;
}

/** The workspace keys land in when a request names none. */
export const DEFAULT_WORKSPACE = "default";

/** Where global admin keys live; it cannot be created, suspended or given to a tenant. */
export const SYSTEM_WORKSPACE = "keyward";

const WORKSPACE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** A message naming what is wrong with a workspace id, or undefined. */
export function workspaceError(workspace: string): string | undefined {
  // The pattern admits a key (letters, digits and _): refused before it could be stored or logged.
  if (WORKSPACE_PATTERN.test(workspace)) return keyShapedError("workspace", workspace);
  return `workspace ${quoted(workspace, 64)} must be 1–64 characters of letters, digits, _, . and -`;
}

/** The settings a workspace is created or updated with; absent ones keep their defaults (or values). */
export type WorkspaceSettings = Partial<
  Pick<
    Workspace,
    | "displayName"
    | "maxKeys"
    | "defaultKeyPrefix"
    | "defaultEnvironment"
    | "defaultTier"
    | "defaultMonthlyQuota"
  >
>;

/** A new, active workspace with the given settings. */
export function newWorkspace(workspaceId: string, now: number, settings: WorkspaceSettings = {}): Workspace {
  return {
    workspaceId,
    displayName: settings.displayName ?? "",
    maxKeys: settings.maxKeys ?? 0,
    defaultKeyPrefix: settings.defaultKeyPrefix ?? "",
    defaultEnvironment: settings.defaultEnvironment ?? "live",
    defaultTier: settings.defaultTier ?? "",
    defaultMonthlyQuota: settings.defaultMonthlyQuota ?? 0,
    status: "active",
    createTime: now,
    updateTime: now,
    suspendTime: null,
    suspendReason: "",
  };
}
