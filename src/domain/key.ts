import type { Environment } from "./key-format.js";
import { compileScopes, type ScopeSet } from "./scope.js";

/** Stored state of a key. Expiry is not a status: it is derived from expireTime per decision. */
export type KeyStatus = "active" | "suspended" | "revoked";

/** An API key's record. Times are milliseconds since the epoch. Never holds the key itself. */
export interface ApiKey {
  readonly keyId: string;
  readonly workspace: string;
  readonly name: string;
  readonly description: string;
  readonly keyPrefix: string;
  /** SHA-256 of the key; used to find it and to evict it from caches, never returned to callers. */
  readonly keyHash: string;
  readonly scopes: readonly string[];
  readonly classes: readonly string[];
  readonly environment: Environment;
  readonly status: KeyStatus;
  readonly createTime: number;
  readonly expireTime: number | null;
  readonly revokeTime: number | null;
  readonly revokeReason: string;
  readonly ownerId: string;
  readonly metadata: Readonly<Record<string, string>>;
}

/** A key found by its hash, with what every decision needs precompiled. */
export interface VerifiedKey {
  readonly key: ApiKey;
  readonly scopes: ScopeSet;
  /** undefined when the key may be used for any class. */
  readonly classes: ReadonlySet<string> | undefined;
}

export function verifiedKey(key: ApiKey): VerifiedKey {
  return {
    key,
    scopes: compileScopes(key.scopes),
    classes: key.classes.length > 0 ? new Set(key.classes) : undefined,
  };
}
