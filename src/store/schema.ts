/** Kysely's view of the tables. Times are integer milliseconds since the epoch; lists and maps are JSON text. */
export interface Database {
  api_keys: ApiKeyTable;
  workspaces: WorkspaceTable;
  audit_events: AuditEventTable;
  key_usage: KeyUsageTable;
}

/** One key's counts for one UTC day (`day` is the day's start); flushes add to them. */
export interface KeyUsageTable {
  key_id: string;
  day: number;
  requests: number;
  denied: number;
  quota_cost: number;
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
  tier: string;
  rate_limit: number | null;
  rate_limit_window_ms: number | null;
  monthly_quota: number;
  credits_remaining: number | null;
  credit_refill_amount: number | null;
  /** "daily", "monthly", or "" when there is no refill. */
  credit_refill_interval: string;
  /** JSON array of normalized CIDRs. */
  allowed_cidrs: string;
  /** Start of the refill period credits_remaining belongs to; null: the one it was issued or set in. */
  credits_refilled_at: number | null;
  /** When IssueKey or UpdateKey last set credits_remaining; flushed spending applies only to that balance. */
  credits_set_time: number | null;
}

export interface WorkspaceTable {
  workspace_id: string;
  display_name: string;
  max_keys: number;
  default_key_prefix: string;
  default_environment: string;
  default_tier: string;
  default_monthly_quota: number;
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
