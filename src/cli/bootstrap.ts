import { ADMIN_SCOPE, SUPERADMIN_SCOPE } from "../domain/admin-access.js";
import type { Caller } from "../domain/audit.js";
import type { Clock } from "../domain/clock.js";
import { type IssuedKey, type IssueKeyInput, issueKeyAs } from "../domain/issue-key.js";
import { DEFAULT_PREFIX } from "../domain/key-format.js";
import { fail, type Outcome } from "../domain/outcome.js";
import { DEFAULT_TIERS } from "../domain/tiers.js";
import { DEFAULT_WORKSPACE, newWorkspace, SYSTEM_WORKSPACE } from "../domain/workspace.js";
import { openDatabase } from "../store/database.js";
import { createKyselyKeyStore } from "../store/kysely-key-store.js";
import { migrateToLatest } from "../store/migrate.js";

export interface BootstrapOptions {
  readonly database: string;
  /** Ignored for a global admin, which always lives in the system workspace. */
  readonly workspace: string;
  readonly name: string;
  /** A global admin (keyward:superadmin) manages workspaces and every workspace's keys. */
  readonly global?: boolean;
}

/**
 * Writes an admin key straight into the store (migrating it first, creating
 * the workspace if needed), for the first key of a workspace: there is no
 * admin yet to call IssueKey with. Recorded in the audit trail as actor `bootstrap`.
 */
export async function bootstrapAdmin(options: BootstrapOptions, clock: Clock): Promise<Outcome<IssuedKey>> {
  // A keyward:admin key there would manage nothing (admin-access.ts); the system workspace holds global admins only.
  if (!options.global && options.workspace === SYSTEM_WORKSPACE) {
    return fail(
      "invalid_argument",
      `workspace "${SYSTEM_WORKSPACE}" is reserved for global admins: use --global`,
    );
  }
  const { db, queryOnly, close } = await openDatabase(options.database);
  try {
    await migrateToLatest(db);
    // "" is the default workspace, as in IssueKey.
    const workspaceId = options.global ? SYSTEM_WORKSPACE : options.workspace || DEFAULT_WORKSPACE;
    const now = clock.now();
    return await createKyselyKeyStore(db, queryOnly).transaction(async (tx) => {
      let workspace = await tx.findWorkspace(workspaceId);
      if (workspace === undefined) {
        // Rolled back with the key when issueKeyAs refuses the input.
        workspace = newWorkspace(workspaceId, now);
        await tx.insertWorkspace(workspace);
      }
      // The workspace's default tier and quota are for the keys its admin issues, not for the admin key.
      const noLimitDefaults = { ...workspace, defaultTier: "", defaultMonthlyQuota: 0 };
      return issueKeyAs(
        { tx, caller: BOOTSTRAP_CALLER, workspace: noLimitDefaults, keyLimit: false, tiers: DEFAULT_TIERS },
        adminKey(workspaceId, options),
        now,
      );
    });
  } finally {
    await close();
  }
}

const BOOTSTRAP_CALLER: Caller = { actorKeyId: "bootstrap", peer: "local", userAgent: "keyward bootstrap" };

/** The admin key asked for: `kw_live_…` whatever the workspace's defaults, which are for the keys it issues. */
function adminKey(workspace: string, options: BootstrapOptions): IssueKeyInput {
  return {
    workspace,
    name: options.name,
    description: "Created by keyward bootstrap",
    scopes: [options.global ? SUPERADMIN_SCOPE : ADMIN_SCOPE],
    classes: [],
    environment: "live",
    prefix: DEFAULT_PREFIX,
    expireTime: undefined,
    ttlMs: undefined,
    ownerId: "",
    metadata: {},
  };
}
