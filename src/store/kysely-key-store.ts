import type { Kysely } from "kysely";
import type { KeyStore, StoreReader, StoreTransaction } from "../domain/key-store.js";
import { StoreError } from "../domain/unavailable.js";
import { insertEvent, listEvents } from "./audit-queries.js";
import { notifyChange, type QueryOnlyConnection } from "./database.js";
import { createGroupCommit, type GroupCommitOptions } from "./group-commit.js";
import { createHotLookup } from "./hot-lookup.js";
import { countActiveKeys, findKeyById, insertKey, listKeys, updateKey } from "./key-queries.js";
import type { Database } from "./schema.js";
import { usageOf } from "./usage-queries.js";
import { findWorkspace, insertWorkspace, listWorkspaces, updateWorkspace } from "./workspace-queries.js";

/**
 * The domain's KeyStore over Kysely. Every driver failure surfaces as a StoreError (an outage, not a bug).
 * Concurrent transactions share one commit, each in a savepoint of its own (see createGroupCommit).
 * findKeyByHash reads on `queryOnly` when there is one (see createHotLookup); the caller that
 * opened the connections closes them.
 */
export function createKyselyKeyStore(
  db: Kysely<Database>,
  queryOnly: QueryOnlyConnection | undefined,
  options: GroupCommitOptions = {},
): KeyStore {
  const groupCommit = createGroupCommit(db, options);
  return {
    ...reader(db),
    findKeyByHash: createHotLookup(db, queryOnly),
    transaction: (work) => groupCommit((trx) => work(writer(trx))),
  };
}

function reader(db: Kysely<Database>): StoreReader {
  return {
    findKeyById: (keyId) => guard("find key", () => findKeyById(db, keyId)),
    findWorkspace: (workspaceId) => guard("find workspace", () => findWorkspace(db, workspaceId)),
    countActiveKeys: (workspace, now) => guard("count keys", () => countActiveKeys(db, workspace, now)),
    listKeys: (query) => guard("list keys", () => listKeys(db, query)),
    listWorkspaces: (after, limit) => guard("list workspaces", () => listWorkspaces(db, after, limit)),
    listAuditEvents: (query) => guard("list audit events", () => listEvents(db, query)),
    usageOf: (keyIds, now) => guard("read usage", () => usageOf(db, keyIds, now)),
  };
}

// Every write of a change goes through here, inside its unit's transaction (a savepoint of the group
// commit's). Each write that cachedKeyStore evicts for (a key inserted or updated, a workspace updated)
// also tells the other replicas, in the same transaction: PostgreSQL's NOTIFY is delivered only if the
// transaction commits, and dropped with a savepoint rolled back to (test/store/change-notice.test.ts).
function writer(db: Kysely<Database>): StoreTransaction {
  return {
    ...reader(db),
    // What a transaction reads it may write (or, for a workspace, count the keys of): held until it commits.
    findKeyById: (keyId) => guard("find key", () => findKeyById(db, keyId, true)),
    findWorkspace: (workspaceId) => guard("find workspace", () => findWorkspace(db, workspaceId, true)),
    insertKey: (key) =>
      guard("insert key", async () => {
        await insertKey(db, key);
        await notifyChange(db, { hashes: [key.keyHash], all: false });
      }),
    updateKey: (key) =>
      guard("update key", async () => {
        await updateKey(db, key);
        await notifyChange(db, { hashes: [key.keyHash], all: false });
      }),
    insertWorkspace: (workspace) => guard("insert workspace", () => insertWorkspace(db, workspace)),
    updateWorkspace: (workspace) =>
      guard("update workspace", async () => {
        await updateWorkspace(db, workspace);
        await notifyChange(db, { hashes: [], all: true });
      }),
    recordEvent: (event) => guard("record audit event", () => insertEvent(db, event)),
  };
}

async function guard<T>(operation: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (cause) {
    throw new StoreError(operation, cause);
  }
}
