import {
  type DatabaseIntrospector,
  type DatabaseMetadata,
  type Kysely,
  PostgresDialect,
  type SchemaMetadata,
  sql,
  type TableMetadata,
} from "kysely";

// Kysely's migrator asks the dialect's introspector whether its tables exist. PostgreSQL's stock
// introspector reads every column of every schema and resolves each table's name to an OID on the
// way (pg_get_serial_sequence), so a table that another client drops meanwhile, in any schema of
// the database, fails the migration with "relation does not exist" (seen in CI while other test
// files dropped their schemas). This one reads the current schema's table names only, from
// information_schema, which resolves nothing.

/** Kysely's PostgreSQL dialect with an introspector that sees the current schema only, by name. */
export class CurrentSchemaPostgresDialect extends PostgresDialect {
  override createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    return currentSchemaIntrospector(db);
  }
}

function currentSchemaIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
  const getSchemas = async (): Promise<SchemaMetadata[]> => {
    const { rows } = await sql<{ name: string }>`select current_schema() as name`.execute(db);
    return rows.filter((row) => row.name !== null);
  };
  const getTables = async (): Promise<TableMetadata[]> => {
    const { rows } = await sql<{ schema: string; name: string; type: string }>`
      select table_schema as schema, table_name as name, table_type as type
      from information_schema.tables where table_schema = current_schema()`.execute(db);
    // Names only: the migrator asks whether a table exists, nothing in Keyward reads columns.
    return rows.map((row) => ({
      schema: row.schema,
      name: row.name,
      isView: row.type === "VIEW",
      columns: [],
    }));
  };
  return {
    getSchemas,
    getTables,
    getMetadata: async (): Promise<DatabaseMetadata> => ({ tables: await getTables() }),
  };
}
