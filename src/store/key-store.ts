import type { Kysely } from "kysely";
import type { KeyStore, StoreReader, StoreTransaction } from "../domain/key-store.js";
import type { Outcome } from "../domain/outcome.js";
import { insertEvent, listEvents } from "./audit-queries.js";
import { createHotLookup } from "./hot-lookup.js";
import { countActiveKeys, findKeyById, insertKey, listKeys, updateKey } from "./key-queries.js";
import type { Database } from "./schema.js";
import { StoreError } from "./store-error.js";
import { findWorkspace, insertWorkspace, listWorkspaces, updateWorkspace } from "./workspace-queries.js";

/** The domain's KeyStore over Kysely. Every driver failure surfaces as a StoreError (an outage, not a bug). */
export function createKeyStore(db: Kysely<Database>): KeyStore {
  return {
    ...reader(db),
    findKeyByHash: createHotLookup(db),
    transaction: (work) => transaction(db, work),
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
  };
}

function writer(db: Kysely<Database>): StoreTransaction {
  return {
    ...reader(db),
    insertKey: (key) => guard("insert key", () => insertKey(db, key)),
    updateKey: (key) => guard("update key", () => updateKey(db, key)),
    insertWorkspace: (workspace) => guard("insert workspace", () => insertWorkspace(db, workspace)),
    updateWorkspace: (workspace) => guard("update workspace", () => updateWorkspace(db, workspace)),
    recordEvent: (event) => guard("record audit event", () => insertEvent(db, event)),
  };
}

/** Carries a failed Outcome out of Kysely's transaction, which rolls back on a throw. */
class Rollback {
  constructor(readonly outcome: Outcome<never>) {}
}

async function transaction<T>(
  db: Kysely<Database>,
  work: (tx: StoreTransaction) => Promise<Outcome<T>>,
): Promise<Outcome<T>> {
  let thrownByWork: unknown;
  try {
    return await db.transaction().execute(async (trx) => {
      let outcome: Outcome<T>;
      try {
        outcome = await work(writer(trx));
      } catch (error) {
        thrownByWork = error;
        throw error;
      }
      if (!outcome.ok) throw new Rollback(outcome);
      return outcome;
    });
  } catch (error) {
    if (error instanceof Rollback) return error.outcome;
    // A bug in the work stays what it is; a failure to begin or commit is an outage.
    if (error === thrownByWork) throw error;
    throw new StoreError("complete a transaction", error);
  }
}

async function guard<T>(operation: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (cause) {
    throw new StoreError(operation, cause);
  }
}
