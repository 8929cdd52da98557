import { ROUTE_EXTENSIONS } from "../domain/check-request.js";
import { requestCost } from "../domain/request-cost.js";
import { REQUEST_LIMITS, requiredScopesError } from "../domain/request-limits.js";

/** Query parameters an auth URL may carry: the short names of Check's route context_extensions. */
type RouteParameter = keyof typeof ROUTE_EXTENSIONS;

// Generous for `scopes` (every scope a route may require, comma-separated), tight for the rest:
// a class or workspace name is short, and a longer value is a mistake, not a route.
const MAX_SCOPES_CHARS = REQUEST_LIMITS.requiredScopes * (REQUEST_LIMITS.scopeLength + 1);
const MAX_VALUE_CHARS = 256;
const MAX_PARAMETERS = Object.keys(ROUTE_EXTENSIONS).length;

/**
 * A route's requirements from the auth URL's query string (`scopes=a,b&class=…&workspace=…&public=true&cost=N`),
 * as the context_extensions Check reads, so that one gateway location or middleware asks for its own scopes
 * exactly as an Envoy route does. Empty when there is no query: the policy file decides. An unknown, repeated
 * or oversized parameter is an error naming it: a misspelt `scope=` must not silently fall back to the policy.
 */
export function routeQuery(query: string): Record<string, string> | { readonly error: string } {
  const extensions: Record<string, string> = {};
  if (query === "") return extensions;
  const pairs = query.split("&", MAX_PARAMETERS + 1);
  if (pairs.length > MAX_PARAMETERS)
    return {
      error: `query: at most ${MAX_PARAMETERS} parameters (${Object.keys(ROUTE_EXTENSIONS).join(", ")})`,
    };
  for (const pair of pairs) {
    const split = pair.indexOf("=");
    const name = decode(split === -1 ? pair : pair.slice(0, split));
    const value = decode(split === -1 ? "" : pair.slice(split + 1));
    if (name === undefined || value === undefined) return { error: "query: not valid percent-encoding" };
    if (!Object.hasOwn(ROUTE_EXTENSIONS, name))
      return {
        error: `query: unknown parameter ${JSON.stringify(name.slice(0, REQUEST_LIMITS.echoedChars))}`,
      };
    const key = ROUTE_EXTENSIONS[name as RouteParameter];
    if (extensions[key] !== undefined) return { error: `query: parameter ${name} given twice` };
    const bad = valueError(name as RouteParameter, value);
    if (bad !== undefined) return { error: bad };
    extensions[key] = value;
  }
  return extensions;
}

/** What routeQuery makes of a query string. */
export type RouteQuery = Readonly<Record<string, string>> | { readonly error: string };

/** Distinct query strings kept parsed: a gateway's auth URLs are a few, one per route at most. */
const KEPT_QUERIES = 64;
/** Longer queries are parsed every time, so that the kept ones stay small. */
const MAX_KEPT_QUERY_CHARS = 512;

/**
 * routeQuery with its answers kept for the last KEPT_QUERIES distinct query strings (the oldest
 * forgotten first), so that the same auth URL is not parsed and validated on every request. What
 * it keeps is the query's own text and what it means, frozen: never a key or a decision.
 */
export function routeQueries(): (query: string) => RouteQuery {
  const kept = new Map<string, RouteQuery>();
  return (query) => {
    let parsed = kept.get(query);
    if (parsed !== undefined) return parsed;
    parsed = Object.freeze(routeQuery(query));
    if (query.length <= MAX_KEPT_QUERY_CHARS) {
      if (kept.size >= KEPT_QUERIES) kept.delete(kept.keys().next().value as string);
      kept.set(query, parsed);
    }
    return parsed;
  };
}

function valueError(name: RouteParameter, value: string): string | undefined {
  const max = name === "scopes" ? MAX_SCOPES_CHARS : MAX_VALUE_CHARS;
  if (value.length > max) return `query parameter ${name}: at most ${max} characters`;
  switch (name) {
    case "scopes": {
      const scopes = value
        .split(",")
        .map((scope) => scope.trim())
        .filter((scope) => scope !== "");
      return requiredScopesError("query parameter scopes", scopes);
    }
    case "public":
      return value === "true" || value === "false" ? undefined : "query parameter public: true or false";
    case "cost": {
      const cost = requestCost("query parameter cost", value);
      return typeof cost === "number" ? undefined : cost.error;
    }
    case "class":
      return undefined; // any text: a key's classes are compared with it, not parsed
    case "workspace":
      return undefined;
  }
}

function decode(text: string): string | undefined {
  if (!text.includes("%") && !text.includes("+")) return text;
  try {
    return decodeURIComponent(text.replace(/\+/g, " "));
  } catch {
    return undefined;
  }
}
