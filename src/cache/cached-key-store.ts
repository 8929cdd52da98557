import type { KeyStore, StoreTransaction } from "../domain/key-store.js";
import { applyInvalidation, type InvalidationBus, singleProcess } from "./invalidation.js";
import type { KeyCache } from "./key-cache.js";

/**
 * Wraps a KeyStore so that every change evicts what it touched once its
 * transaction has ended, before the call returns: a revoke is never answered
 * "allowed" from the cache afterwards, and a newly issued key is never answered
 * "not found" from the negative cache, in this process and, through the bus,
 * in every other worker. A workspace change (its suspension decides for all
 * its keys) clears the whole cache: rare, and simply correct.
 */
export function cachedKeyStore(
  store: KeyStore,
  cache: KeyCache,
  bus: InvalidationBus = singleProcess,
): KeyStore {
  return {
    ...store,
    async transaction(work) {
      const touched = new Set<string>();
      let workspaceChanged = false;
      try {
        return await store.transaction((tx) =>
          work({
            ...tx,
            insertKey(key) {
              touched.add(key.keyHash);
              return tx.insertKey(key);
            },
            updateKey(key) {
              touched.add(key.keyHash);
              return tx.updateKey(key);
            },
            updateWorkspace(workspace) {
              workspaceChanged = true;
              return tx.updateWorkspace(workspace);
            },
          } satisfies StoreTransaction),
        );
      } finally {
        if (workspaceChanged || touched.size > 0) {
          const change = { hashes: [...touched], all: workspaceChanged };
          applyInvalidation(cache, change);
          await bus.broadcast(change); // other workers, before the call returns
        }
      }
    },
  };
}
