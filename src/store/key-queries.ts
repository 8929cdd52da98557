import { type Kysely, sql } from "kysely";
import type { ApiKey } from "../domain/key.js";
import type { KeyQuery } from "../domain/key-store.js";
import { lockedForWrite } from "./database.js";
import { keyFromRow, rowFromKey } from "./rows.js";
import type { Database } from "./schema.js";

// Each query takes the handle first, so the caller decides whether it runs in a transaction.

/** `forWrite`: a transaction's read of the key it may then write (see lockedForWrite). */
export async function findKeyById(
  db: Kysely<Database>,
  keyId: string,
  forWrite = false,
): Promise<ApiKey | undefined> {
  const query = db.selectFrom("api_keys").selectAll().where("key_id", "=", keyId);
  const row = await (forWrite ? lockedForWrite(db, query) : query).executeTakeFirst();
  return row && keyFromRow(row);
}

export async function insertKey(db: Kysely<Database>, key: ApiKey): Promise<void> {
  await db.insertInto("api_keys").values(rowFromKey(key)).execute();
}

/**
 * Replaces every mutable column; the id, hash, prefix and creation time never change. A balance set
 * anew belongs to the refill period it is set in (credits_refilled_at null), not to the last refill's.
 */
export async function updateKey(db: Kysely<Database>, key: ApiKey): Promise<void> {
  const { key_id, key_hash, key_prefix, create_time, workspace, ...mutable } = rowFromKey(key);
  await db
    .updateTable("api_keys")
    .set({
      ...mutable,
      credits_refilled_at: sql<
        number | null
      >`case when credits_set_time is not distinct from ${mutable.credits_set_time} then credits_refilled_at else null end`,
    })
    .where("key_id", "=", key_id)
    .execute();
}

export async function countActiveKeys(db: Kysely<Database>, workspace: string, now: number): Promise<number> {
  const row = await db
    .selectFrom("api_keys")
    .select((eb) => eb.fn.countAll<number | string>().as("n"))
    .where("workspace", "=", workspace)
    .where("status", "!=", "revoked")
    .where((eb) => eb.or([eb("expire_time", "is", null), eb("expire_time", ">", now)]))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** A page of keys, newest first (create_time, key_id descending), and the total matching the filters. */
export async function listKeys(
  db: Kysely<Database>,
  query: KeyQuery,
): Promise<{ keys: ApiKey[]; total: number }> {
  let filtered = db.selectFrom("api_keys").where("workspace", "=", query.workspace);
  if (query.status !== undefined) filtered = filtered.where("status", "=", query.status);
  if (query.environment !== undefined) filtered = filtered.where("environment", "=", query.environment);
  if (query.ownerId !== "") filtered = filtered.where("owner_id", "=", query.ownerId);
  if (query.namePrefix !== "") {
    // substr instead of LIKE: no wildcard escaping, and the same in SQLite and PostgreSQL.
    // Both count characters (code points), hence the spread rather than .length (UTF-16 units).
    filtered = filtered.where((eb) =>
      eb(eb.fn("substr", ["name", eb.val(1), eb.val([...query.namePrefix].length)]), "=", query.namePrefix),
    );
  }
  let page = filtered.selectAll();
  const after = query.after;
  if (after !== undefined) {
    page = page.where((eb) =>
      eb.or([
        eb("create_time", "<", after.time),
        eb.and([eb("create_time", "=", after.time), eb("key_id", "<", after.id)]),
      ]),
    );
  }
  const rows = await page
    .orderBy("create_time", "desc")
    .orderBy("key_id", "desc")
    .limit(query.limit)
    .execute();
  const count = await filtered
    .select((eb) => eb.fn.countAll<number | string>().as("n"))
    .executeTakeFirstOrThrow();
  return { keys: rows.map(keyFromRow), total: Number(count.n) };
}
