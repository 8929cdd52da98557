import { ADMIN_SCOPE, SUPERADMIN_SCOPE } from "../domain/admin-access.js";
import { auditEvent } from "../domain/audit.js";
import type { Clock } from "../domain/clock.js";
import { type IssuedKey, prepareKey } from "../domain/issue-key.js";
import { fail, type Outcome } from "../domain/outcome.js";
import { newWorkspace, SYSTEM_WORKSPACE } from "../domain/workspace.js";
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
  const { db, queryOnly, close } = openDatabase(options.database);
  try {
    await migrateToLatest(db);
    const workspace = options.global ? SYSTEM_WORKSPACE : options.workspace;
    const now = clock.now();
    return await createKyselyKeyStore(db, queryOnly).transaction(async (tx) => {
      const prepared = prepareKey(
        {
          workspace,
          name: options.name,
          description: "Created by keyward bootstrap",
          scopes: [options.global ? SUPERADMIN_SCOPE : ADMIN_SCOPE],
          classes: [],
          environment: "live",
          prefix: "",
          expireTime: undefined,
          ttlMs: undefined,
          ownerId: "",
          metadata: {},
        },
        now,
      );
      if (!prepared.ok) return prepared;
      if ((await tx.findWorkspace(workspace)) === undefined)
        await tx.insertWorkspace(newWorkspace(workspace, now));
      await tx.insertKey(prepared.value.key);
      const caller = { actorKeyId: "bootstrap", peer: "local", userAgent: "keyward bootstrap" };
      await tx.recordEvent(
        auditEvent(caller, now, { workspace, action: "key.issued", targetId: prepared.value.key.keyId }),
      );
      return prepared;
    });
  } finally {
    await close();
  }
}
