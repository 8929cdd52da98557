import { ADMIN_SCOPE } from "../domain/admin-access.js";
import type { Clock } from "../domain/clock.js";
import { type IssuedKey, prepareKey } from "../domain/issue-key.js";
import { fail, type Outcome } from "../domain/outcome.js";
import { openDatabase } from "../store/database.js";
import { createKeyStore } from "../store/key-store.js";
import { migrateToLatest } from "../store/migrate.js";

export interface BootstrapOptions {
  readonly database: string;
  readonly workspace: string;
  readonly name: string;
}

/**
 * Writes an admin key straight into the store (migrating it first), for the
 * first key of a workspace: there is no admin yet to call IssueKey with.
 */
export async function bootstrapAdmin(options: BootstrapOptions, clock: Clock): Promise<Outcome<IssuedKey>> {
  const db = openDatabase(options.database);
  try {
    await migrateToLatest(db);
    const prepared = prepareKey(
      {
        workspace: options.workspace,
        name: options.name,
        description: "Created by keyward bootstrap",
        scopes: [ADMIN_SCOPE],
        classes: [],
        environment: "live",
        prefix: "",
        expireTime: undefined,
        ttlMs: undefined,
        ownerId: "",
        metadata: {},
      },
      clock.now(),
    );
    if (!prepared.ok) return fail(prepared.error.code, prepared.error.message);
    await createKeyStore(db).insertKey(prepared.value.key);
    return prepared;
  } finally {
    await db.destroy();
  }
}
