/**
 * Scopes are `resource:action` strings: `:`-separated segments of
 * `[a-z0-9_.-]`, at least two. `*` alone grants everything; `*` as the last
 * segment (`models:*`) grants everything under the segments before it.
 */
import { quoted } from "./secret-input.js";

const SEGMENT = /^[a-z0-9_.-]+$/;
/** Characters of one scope; part of the request caps in request-limits.ts. */
export const MAX_SCOPE_LENGTH = 200;

/** A message naming what is wrong with a scope, or undefined when it is valid. */
export function scopeError(scope: string): string | undefined {
  if (scope === "*") return undefined;
  if (scope.length > MAX_SCOPE_LENGTH)
    return invalidScope(scope, `longer than ${MAX_SCOPE_LENGTH} characters`);
  const segments = scope.split(":");
  if (segments.length < 2) return invalidScope(scope, "expected resource:action");
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i] as string;
    if (segment === "*" && i === segments.length - 1) continue;
    if (segment === "*") return invalidScope(scope, "* may only be the last segment");
    if (!SEGMENT.test(segment)) return invalidScope(scope, "segments are made of a-z, 0-9, _, . and -");
  }
  return undefined;
}

// Built only on the error path: scopeError runs for every required scope of every Authorize.
function invalidScope(scope: string, why: string): string {
  return `invalid scope ${quoted(scope, MAX_SCOPE_LENGTH)}: ${why}`;
}

/** The first error among scopes, if any. */
export function scopesError(scopes: readonly string[]): string | undefined {
  for (const scope of scopes) {
    const error = scopeError(scope);
    if (error) return error;
  }
  return undefined;
}

/** Granted scopes compiled once (when a key is cached) for cheap matching on every request. */
export interface ScopeSet {
  /** The scopes as granted, in their order: what answers list. */
  readonly granted: readonly string[];
  readonly all: boolean;
  readonly exact: ReadonlySet<string>;
  /** `models:*` is kept as `models:`; a required scope starting with it is granted. */
  readonly prefixes: readonly string[];
}

export function compileScopes(granted: readonly string[]): ScopeSet {
  const prefixes: string[] = [];
  for (const scope of granted) {
    if (scope.endsWith(":*")) prefixes.push(scope.slice(0, -1));
  }
  return { granted, all: granted.includes("*"), exact: new Set(granted), prefixes };
}

/** Whether a granted set covers one required scope. */
export function grantsScope(set: ScopeSet, required: string): boolean {
  if (set.all || set.exact.has(required)) return true;
  for (const prefix of set.prefixes) {
    if (required.startsWith(prefix)) return true;
  }
  return false;
}

const NONE: readonly string[] = Object.freeze([]);

/** The required scopes the set does not grant, in the order asked. */
export function missingScopes(set: ScopeSet, required: readonly string[]): readonly string[] {
  let missing: string[] | undefined;
  for (const scope of required) {
    if (grantsScope(set, scope)) continue;
    missing ??= [];
    missing.push(scope);
  }
  return missing ?? NONE;
}
