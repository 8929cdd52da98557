import type { Kysely } from "kysely";

// Migrations take Kysely<unknown>: they must not depend on today's schema types.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("api_keys")
    .addColumn("key_id", "varchar(64)", (col) => col.primaryKey())
    .addColumn("workspace", "varchar(64)", (col) => col.notNull())
    .addColumn("name", "text", (col) => col.notNull())
    .addColumn("description", "text", (col) => col.notNull())
    .addColumn("key_prefix", "varchar(64)", (col) => col.notNull())
    .addColumn("key_hash", "char(64)", (col) => col.notNull().unique())
    .addColumn("scopes", "text", (col) => col.notNull())
    .addColumn("classes", "text", (col) => col.notNull())
    .addColumn("environment", "varchar(8)", (col) => col.notNull())
    .addColumn("status", "varchar(16)", (col) => col.notNull())
    .addColumn("create_time", "bigint", (col) => col.notNull())
    .addColumn("expire_time", "bigint")
    .addColumn("revoke_time", "bigint")
    .addColumn("revoke_reason", "text", (col) => col.notNull())
    .addColumn("owner_id", "text", (col) => col.notNull())
    .addColumn("metadata", "text", (col) => col.notNull())
    .execute();
  await db.schema
    .createIndex("api_keys_workspace_create_time")
    .on("api_keys")
    .columns(["workspace", "create_time", "key_id"])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable("api_keys").execute();
}
