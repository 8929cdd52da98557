import type { Insertable, Selectable } from "kysely";
import type { ApiKey, KeyStatus } from "../domain/key.js";
import type { Environment } from "../domain/key-format.js";
import type { ApiKeyTable } from "./schema.js";

/** Row → domain. Numbers come back as strings from some drivers (bigint), hence Number(). */
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
    createTime: Number(row.create_time),
    expireTime: row.expire_time === null ? null : Number(row.expire_time),
    revokeTime: row.revoke_time === null ? null : Number(row.revoke_time),
    revokeReason: row.revoke_reason,
    ownerId: row.owner_id,
    metadata: JSON.parse(row.metadata) as Record<string, string>,
  };
}

/** Domain → row. */
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
  };
}
