import type { Kysely } from "kysely";

// Usage counts (issue 12), written behind the decision path: one row per key and UTC day, to which
// each flush adds (`requests = requests + ?`), so that several writers' counts add up. A month's
// counts are the sum of its days. A key's credit balance stays in api_keys; credits_refilled_at
// says which refill period that balance belongs to (null: the period it was issued or set in), and
// credits_set_time which setting of the balance a flush spends from (a balance set anew drops the
// spending counted before it).
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("key_usage")
    .addColumn("key_id", "varchar(64)", (c) => c.notNull())
    .addColumn("day", "bigint", (c) => c.notNull())
    .addColumn("requests", "bigint", (c) => c.notNull().defaultTo(0))
    .addColumn("denied", "bigint", (c) => c.notNull().defaultTo(0))
    .addColumn("quota_cost", "bigint", (c) => c.notNull().defaultTo(0))
    .addPrimaryKeyConstraint("key_usage_pk", ["key_id", "day"])
    .execute();
  await db.schema.alterTable("api_keys").addColumn("credits_refilled_at", "bigint").execute();
  await db.schema.alterTable("api_keys").addColumn("credits_set_time", "bigint").execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable("api_keys").dropColumn("credits_set_time").execute();
  await db.schema.alterTable("api_keys").dropColumn("credits_refilled_at").execute();
  await db.schema.dropTable("key_usage").execute();
}
