import type { KeyStore } from "../domain/key-store.js";
import type { KeyCache } from "./key-cache.js";

/**
 * Wraps a KeyStore so that every change evicts the key's hash before the call
 * returns: a revoke is never answered "allowed" from the cache afterwards, and
 * a newly issued key is never answered "not found" from the negative cache.
 */
export function cachedKeyStore(store: KeyStore, cache: KeyCache): KeyStore {
  return {
    findKeyByHash: (keyHash) => store.findKeyByHash(keyHash),
    findKeyById: (keyId) => store.findKeyById(keyId),
    async insertKey(key) {
      try {
        await store.insertKey(key);
      } finally {
        cache.evict(key.keyHash);
      }
    },
    async revokeKey(keyId, reason, now) {
      const revoked = await store.revokeKey(keyId, reason, now);
      if (revoked !== undefined) cache.evict(revoked.keyHash);
      return revoked;
    },
  };
}
