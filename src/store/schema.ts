/** Kysely's view of the tables. Times are integer milliseconds since the epoch; lists and maps are JSON text. */
export interface Database {
  api_keys: ApiKeyTable;
  workspaces: WorkspaceTable;
  audit_events: AuditEventTable;
}

export interface ApiKeyTable {
  key_id: string;
  workspace: string;
  name: string;
  description: string;
  key_prefix: string;
  key_hash: string;
  scopes: string;
  classes: string;
  environment: string;
  status: string;
  create_time: number;
  expire_time: number | null;
  revoke_time: number | null;
  revoke_reason: string;
  owner_id: string;
  metadata: string;
  update_time: number;
  suspend_time: number | null;
  suspend_reason: string;
  last_used_time: number | null;
  rotated_from_key_id: string;
  rotated_to_key_id: string;
}

export interface WorkspaceTable {
  workspace_id: string;
  display_name: string;
  max_keys: number;
  default_key_prefix: string;
  default_environment: string;
  status: string;
  create_time: number;
  update_time: number;
  suspend_time: number | null;
  suspend_reason: string;
}

export interface AuditEventTable {
  event_id: string;
  time: number;
  workspace: string;
  actor_key_id: string;
  action: string;
  target_id: string;
  changed_fields: string;
  peer: string;
  user_agent: string;
  reason: string;
}
