import type { VerifiedKey } from "./key.js";
import type { MaybePromise } from "./maybe-promise.js";

/**
 * Finds verified keys by hash, usually from a cache (cache/key-cache.ts). Answers synchronously
 * when it can (a cache hit, or a hash known to be absent) so that the hot path does not wait on a
 * promise it does not need. An absent key is `undefined`, as in KeyStore.findKeyByHash.
 */
export interface KeyResolver {
  /** `digest` is the key's digestKey(), not its stored hex hash. */
  resolve(digest: string): MaybePromise<VerifiedKey | undefined>;
}
