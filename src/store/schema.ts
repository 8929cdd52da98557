/** Kysely's view of the tables. Times are integer milliseconds since the epoch; lists and maps are JSON text. */
export interface Database {
  api_keys: ApiKeyTable;
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
}
