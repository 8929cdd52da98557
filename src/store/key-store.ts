import type { Kysely } from "kysely";
import type { KeyStore } from "../domain/key-store.js";
import { findKeyByHash, findKeyById, insertKey, markKeyRevoked } from "./key-queries.js";
import type { Database } from "./schema.js";
import { StoreError } from "./store-error.js";

/** The domain's KeyStore over Kysely. Every failure surfaces as a StoreError (an outage, not a bug). */
export function createKeyStore(db: Kysely<Database>): KeyStore {
  return {
    findKeyByHash: (keyHash) => guard("find key by hash", () => findKeyByHash(db, keyHash)),
    findKeyById: (keyId) => guard("find key", () => findKeyById(db, keyId)),
    insertKey: (key) => guard("insert key", () => insertKey(db, key)),
    revokeKey: (keyId, reason, now) =>
      guard("revoke key", () =>
        db.transaction().execute(async (trx) => {
          await markKeyRevoked(trx, keyId, reason, now);
          return findKeyById(trx, keyId);
        }),
      ),
  };
}

async function guard<T>(operation: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (cause) {
    throw new StoreError(operation, cause);
  }
}
