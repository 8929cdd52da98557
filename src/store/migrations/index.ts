import type { Migration, MigrationProvider } from "kysely";
import * as createApiKeys from "./0001-create-api-keys.js";
import * as workspacesAndAudit from "./0002-workspaces-and-audit.js";
import * as keyLimits from "./0003-key-limits.js";
import * as keyUsage from "./0004-key-usage.js";

/** Every migration, in order, shipped as code (no folder scan: the compiled dist/ and tsx both work). */
const migrations: Record<string, Migration> = {
  "0001-create-api-keys": createApiKeys,
  "0002-workspaces-and-audit": workspacesAndAudit,
  "0003-key-limits": keyLimits,
  "0004-key-usage": keyUsage,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => migrations,
};
