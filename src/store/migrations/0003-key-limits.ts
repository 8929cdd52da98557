import type { Kysely } from "kysely";

// Adds each key's limits and each workspace's defaults for them (issue 12). The defaults are "no
// limit": a key issued before this migration keeps exactly its behaviour (test/store/migrations.test.ts).
// Credits are columns of their own, not JSON, so that spending them can be one atomic update.
const KEY_COLUMNS = [
  "allowed_cidrs",
  "credit_refill_interval",
  "credit_refill_amount",
  "credits_remaining",
  "monthly_quota",
  "rate_limit_window_ms",
  "rate_limit",
  "tier",
] as const;

export async function up(db: Kysely<unknown>): Promise<void> {
  const keys = () => db.schema.alterTable("api_keys");
  await keys()
    .addColumn("tier", "varchar(64)", (c) => c.notNull().defaultTo(""))
    .execute();
  // Both null, or both set: the key's own rate limit.
  await keys().addColumn("rate_limit", "bigint").execute();
  await keys().addColumn("rate_limit_window_ms", "bigint").execute();
  await keys()
    .addColumn("monthly_quota", "bigint", (c) => c.notNull().defaultTo(0))
    .execute();
  // Null: the key is not credit-limited. The refill amount is null when there is no refill.
  await keys().addColumn("credits_remaining", "bigint").execute();
  await keys().addColumn("credit_refill_amount", "bigint").execute();
  await keys()
    .addColumn("credit_refill_interval", "varchar(8)", (c) => c.notNull().defaultTo(""))
    .execute();
  await keys()
    .addColumn("allowed_cidrs", "text", (c) => c.notNull().defaultTo("[]"))
    .execute();
  await db.schema
    .alterTable("workspaces")
    .addColumn("default_tier", "varchar(64)", (c) => c.notNull().defaultTo(""))
    .execute();
  await db.schema
    .alterTable("workspaces")
    .addColumn("default_monthly_quota", "bigint", (c) => c.notNull().defaultTo(0))
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable("workspaces").dropColumn("default_monthly_quota").execute();
  await db.schema.alterTable("workspaces").dropColumn("default_tier").execute();
  for (const column of KEY_COLUMNS) {
    await db.schema.alterTable("api_keys").dropColumn(column).execute();
  }
}
