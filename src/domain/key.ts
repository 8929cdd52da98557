import type { Environment } from "./key-format.js";
import type { KeyLimits } from "./key-limits.js";
import type { ScopeSet } from "./scope.js";

/** Stored state of a key. Expiry is not a status: it is derived from expireTime per decision. */
export type KeyStatus = "active" | "suspended" | "revoked";

/** An API key's record, with its limits. Times are milliseconds since the epoch. Never holds the key itself. */
export interface ApiKey extends KeyLimits {
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

/**
 * What decisions and answers need of a key besides its id: its grants and its state. Many keys share
 * the same terms (issued with the same settings, never expiring), so caches may share one object among
 * them; that is what keeps a million cached keys small (bench scenario 7). Never changed: a change to a
 * key makes new terms. The limits are carried as stored, for enforcement to read; a key without
 * any shares NO_LIMITS' values.
 */
export interface KeyTerms extends KeyLimits {
  readonly workspace: string;
  readonly environment: Environment;
  readonly status: KeyStatus;
  readonly expireTime: number | null;
  readonly ownerId: string;
  readonly metadata: Readonly<Record<string, string>>;
  readonly scopes: ScopeSet;
  /** undefined when the key may be used for any class. */
  readonly classes: ReadonlySet<string> | undefined;
  readonly workspaceSuspended: boolean;
  /** allowedCidrs compiled (compileAllowedCidrs); undefined when the key may be used from anywhere. */
  readonly allowedFrom: ((ip: string) => boolean) | undefined;
}

/** A key found by its hash: only what every decision and answer needs, precompiled. */
export interface VerifiedKey {
  readonly keyId: string;
  readonly terms: KeyTerms;
}

/** A key's classes as decisions read them (see KeyTerms.classes). */
export function compileClasses(classes: readonly string[]): ReadonlySet<string> | undefined {
  return classes.length > 0 ? new Set(classes) : undefined;
}
