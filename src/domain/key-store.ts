import type { ApiKey, VerifiedKey } from "./key.js";

/**
 * The store operations the domain needs. Implementations run each call in a
 * transaction of their own and throw only on I/O failure.
 */
export interface KeyStore {
  findKeyByHash(keyHash: string): Promise<ApiKey | undefined>;
  findKeyById(keyId: string): Promise<ApiKey | undefined>;
  insertKey(key: ApiKey): Promise<void>;
  /** Marks the key revoked unless it already is; returns it as stored afterwards. */
  revokeKey(keyId: string, reason: string, now: number): Promise<ApiKey | undefined>;
}

/**
 * Finds verified keys by hash, usually from a cache. Answers synchronously when
 * it can (a cache hit, or a hash known to be absent: null) so that the hot path
 * does not wait on a promise it does not need.
 */
export interface KeyResolver {
  resolve(keyHash: string): VerifiedKey | null | Promise<VerifiedKey | null>;
}
