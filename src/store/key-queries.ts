import type { Kysely } from "kysely";
import type { ApiKey } from "../domain/key.js";
import { keyFromRow, rowFromKey } from "./rows.js";
import type { Database } from "./schema.js";

// Each query takes the handle first, so the caller decides whether it runs in a transaction.

export async function findKeyByHash(db: Kysely<Database>, keyHash: string): Promise<ApiKey | undefined> {
  const row = await db.selectFrom("api_keys").selectAll().where("key_hash", "=", keyHash).executeTakeFirst();
  return row && keyFromRow(row);
}

export async function findKeyById(db: Kysely<Database>, keyId: string): Promise<ApiKey | undefined> {
  const row = await db.selectFrom("api_keys").selectAll().where("key_id", "=", keyId).executeTakeFirst();
  return row && keyFromRow(row);
}

export async function insertKey(db: Kysely<Database>, key: ApiKey): Promise<void> {
  await db.insertInto("api_keys").values(rowFromKey(key)).execute();
}

/** Revokes unless already revoked, so a repeated revoke keeps the first revoke_time. */
export async function markKeyRevoked(
  db: Kysely<Database>,
  keyId: string,
  reason: string,
  now: number,
): Promise<void> {
  await db
    .updateTable("api_keys")
    .set({ status: "revoked", revoke_time: now, revoke_reason: reason })
    .where("key_id", "=", keyId)
    .where("status", "!=", "revoked")
    .execute();
}
