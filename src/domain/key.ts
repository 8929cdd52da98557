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
  readonly updateTime: number;
  readonly suspendTime: number | null;
  readonly suspendReason: string;
  /** When the key was last used; null until usage tracking exists. */
  readonly lastUsedTime: number | null;
  readonly rotatedFromKeyId: string;
  readonly rotatedToKeyId: string;
}

/** A key as the hot path finds it: with its workspace's state, which also decides. */
export interface ResolvedKey {
  readonly key: ApiKey;
  readonly workspaceSuspended: boolean;
}

/** A key found by its hash, with what every decision needs precompiled. */
export interface VerifiedKey {
  readonly key: ApiKey;
  readonly scopes: ScopeSet;
  /** undefined when the key may be used for any class. */
  readonly classes: ReadonlySet<string> | undefined;
  readonly workspaceSuspended: boolean;
}

export function verifiedKey({ key, workspaceSuspended }: ResolvedKey): VerifiedKey {
  return {
    key,
    workspaceSuspended,
    scopes: compileScopes(key.scopes),
    classes: key.classes.length > 0 ? new Set(key.classes) : undefined,
  };
}
