import { MAX_SCOPE_LENGTH, scopesError } from "./scope.js";

/**
 * What a request that needs no key (Authorize, Envoy Check) may carry. Anyone
 * who can reach the port can send these, so each count and size is capped
 * before any work is done, and nothing in an answer grows with the input
 * beyond them (STYLE.md habit 18; test/rpc/unauthenticated-cost.test.ts).
 * The whole message is bounded first, at the edge (KEYWARD_MAX_MESSAGE_BYTES,
 * KEYWARD_MAX_CHECK_MESSAGE_BYTES); fields Keyward does not read are bounded
 * by that alone. The README's Errors section lists these caps.
 */
export const REQUEST_LIMITS = {
  /** Authorize `required_scopes`, and the scopes of a route's `keyward.scopes`: as many as a key may hold (IssueKey). */
  requiredScopes: 100,
  /** Characters of one scope (scope.ts). */
  scopeLength: MAX_SCOPE_LENGTH,
  /**
   * Header entries of one request: Authorize `headers`; Check `headers` and `header_map` together. Far above
   * Envoy's default `max_headers_count` (100) so that Envoy never meets it unless configured past it.
   */
  headers: 1000,
  /**
   * UTF-16 code units of header names and values together (Check also counts `path`). Above Envoy's default
   * `max_request_headers_kb` (60 KiB) with room to spare.
   */
  headerChars: 256 * 1024,
  /** Check `context_extensions` entries (a route's own configuration; Keyward reads four). */
  contextExtensions: 100,
  /** Missing scopes named in a denial's message; `missing_scopes` lists them all (at most `requiredScopes`). */
  scopesInMessage: 5,
  /** Characters of a caller's text (a service or file name) repeated in an error message (secret-input.ts quoted()). */
  echoedChars: 200,
} as const;

/** The first cap a set of required scopes breaks, or undefined; also validates each scope. */
export function requiredScopesError(field: string, scopes: readonly string[]): string | undefined {
  if (scopes.length > REQUEST_LIMITS.requiredScopes) {
    return `${field}: at most ${REQUEST_LIMITS.requiredScopes} scopes (got ${scopes.length})`;
  }
  const bad = scopesError(scopes);
  return bad === undefined ? undefined : `${field}: ${bad}`;
}

/** Counts of a request's headers, taken at the edge where the wire shape is known. */
export interface HeaderTally {
  entries: number;
  chars: number;
}

/** Adds the entries of a header map to a tally (a fresh one by default). */
export function tallyHeaders(
  headers: Readonly<Record<string, string>>,
  tally: HeaderTally = { entries: 0, chars: 0 },
): HeaderTally {
  for (const name in headers) {
    tally.entries++;
    tally.chars += name.length + (headers[name] as string).length;
  }
  return tally;
}

/** Whether a request's headers are beyond the caps; the message names the field and the cap. */
export function headersError(field: string, tally: HeaderTally): string | undefined {
  if (tally.entries > REQUEST_LIMITS.headers) {
    return `${field}: at most ${REQUEST_LIMITS.headers} entries (got ${tally.entries})`;
  }
  if (tally.chars > REQUEST_LIMITS.headerChars) {
    return `${field}: names and values longer than ${REQUEST_LIMITS.headerChars} characters together`;
  }
  return undefined;
}

/** Whether a Check's `context_extensions` has more entries than a route may set. */
export function contextExtensionsError(extensions: Readonly<Record<string, string>>): string | undefined {
  let entries = 0;
  for (const _ in extensions) {
    if (++entries > REQUEST_LIMITS.contextExtensions) {
      return `context_extensions: at most ${REQUEST_LIMITS.contextExtensions} entries`;
    }
  }
  return undefined;
}
