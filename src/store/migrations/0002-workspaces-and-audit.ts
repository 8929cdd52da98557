import { type Kysely, sql } from "kysely";

// Adds the key lifecycle columns, workspaces (one row per workspace that already has keys)
// and the audit trail.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable("api_keys")
    .addColumn("update_time", "bigint", (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema.alterTable("api_keys").addColumn("suspend_time", "bigint").execute();
  await db.schema
    .alterTable("api_keys")
    .addColumn("suspend_reason", "text", (c) => c.notNull().defaultTo(""))
    .execute();
  await db.schema.alterTable("api_keys").addColumn("last_used_time", "bigint").execute();
  await db.schema
    .alterTable("api_keys")
    .addColumn("rotated_from_key_id", "varchar(64)", (c) => c.notNull().defaultTo(""))
    .execute();
  await db.schema
    .alterTable("api_keys")
    .addColumn("rotated_to_key_id", "varchar(64)", (c) => c.notNull().defaultTo(""))
    .execute();
  await sql`update api_keys set update_time = create_time`.execute(db);

  await db.schema
    .createTable("workspaces")
    .addColumn("workspace_id", "varchar(64)", (c) => c.primaryKey())
    .addColumn("display_name", "text", (c) => c.notNull())
    .addColumn("max_keys", "integer", (c) => c.notNull())
    .addColumn("default_key_prefix", "varchar(16)", (c) => c.notNull())
    .addColumn("default_environment", "varchar(8)", (c) => c.notNull())
    .addColumn("status", "varchar(16)", (c) => c.notNull())
    .addColumn("create_time", "bigint", (c) => c.notNull())
    .addColumn("update_time", "bigint", (c) => c.notNull())
    .addColumn("suspend_time", "bigint")
    .addColumn("suspend_reason", "text", (c) => c.notNull())
    .execute();
  await sql`
    insert into workspaces (workspace_id, display_name, max_keys, default_key_prefix, default_environment,
                            status, create_time, update_time, suspend_time, suspend_reason)
    select workspace, '', 0, '', 'live', 'active', min(create_time), min(create_time), null, ''
    from api_keys group by workspace`.execute(db);

  await db.schema
    .createTable("audit_events")
    .addColumn("event_id", "varchar(64)", (c) => c.primaryKey())
    .addColumn("time", "bigint", (c) => c.notNull())
    .addColumn("workspace", "varchar(64)", (c) => c.notNull())
    .addColumn("actor_key_id", "varchar(64)", (c) => c.notNull())
    .addColumn("action", "varchar(32)", (c) => c.notNull())
    .addColumn("target_id", "varchar(64)", (c) => c.notNull())
    .addColumn("changed_fields", "text", (c) => c.notNull())
    .addColumn("peer", "text", (c) => c.notNull())
    .addColumn("user_agent", "text", (c) => c.notNull())
    .addColumn("reason", "text", (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex("audit_events_workspace_time")
    .on("audit_events")
    .columns(["workspace", "time", "event_id"])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable("audit_events").execute();
  await db.schema.dropTable("workspaces").execute();
  for (const column of [
    "rotated_to_key_id",
    "rotated_from_key_id",
    "last_used_time",
    "suspend_reason",
    "suspend_time",
    "update_time",
  ]) {
    await db.schema.alterTable("api_keys").dropColumn(column).execute();
  }
}
