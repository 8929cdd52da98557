import type { IncomingHttpHeaders } from "node:http";
import { type RouteQuery, routeQuery } from "./route-query.js";

/** The gateway flavours served under `/authz/`, each passing the original request its own way. */
export type AuthFlavour =
  /** Traefik, Caddy: `X-Forwarded-Method` and `X-Forwarded-Uri`. */
  | "forward-auth"
  /** nginx auth_request, ingress-nginx: `X-Original-Method` and `X-Original-URI`. */
  | "auth-request"
  /** Envoy ext_authz http_service: the original path after the prefix, the original method as its own. */
  | "ext-authz";

/** The request the gateway asks about, and the route requirements given on the auth URL. */
export interface ForwardedRequest {
  readonly flavour: AuthFlavour;
  readonly method: string;
  /** Path and query, as Check's `path`. */
  readonly path: string;
  /** From the auth URL's query (routeQuery); empty for ext-authz, whose query is the original request's. */
  readonly contextExtensions: Readonly<Record<string, string>>;
}

/** Why a request to `/authz/…` cannot be decided: the HTTP status and a message for the gateway's operator. */
export interface ForwardedRequestError {
  readonly status: 400 | 404;
  readonly error: string;
}

/** The headers that name the original request, for every flavour that sends them as headers. */
export const ORIGINAL_REQUEST_HEADERS = [
  "x-forwarded-method",
  "x-forwarded-uri",
  "x-original-method",
  "x-original-uri",
] as const;

const PREFIX = "/authz/";
const EXT_AUTHZ = "/authz/ext-authz";
// An HTTP method is a token (RFC 9110 section 9.1); Node checks the request's own, not a header's.
const METHOD = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}$/;

/** Whether a request URL is one of the forward-auth endpoints, to be answered before connect-node. */
export function isForwardAuthUrl(url: string | undefined): boolean {
  return url?.startsWith(PREFIX) === true;
}

/**
 * The original request, from where each flavour puts it. `url` is the auth request's own;
 * `parseQuery` reads its query (routeQuery, or a routeQueries() that keeps what it parsed).
 */
export function forwardedRequest(
  url: string,
  method: string,
  headers: IncomingHttpHeaders,
  parseQuery: (query: string) => RouteQuery = routeQuery,
): ForwardedRequest | ForwardedRequestError {
  if (url === EXT_AUTHZ || url.startsWith(`${EXT_AUTHZ}/`) || url.startsWith(`${EXT_AUTHZ}?`)) {
    const rest = url.slice(EXT_AUTHZ.length);
    // Envoy adds the original path to path_prefix; a bare prefix was a request for "/".
    return {
      flavour: "ext-authz",
      method,
      path: rest.startsWith("/") ? rest : `/${rest}`,
      contextExtensions: {},
    };
  }
  const query = url.indexOf("?");
  const endpoint = query === -1 ? url : url.slice(0, query);
  let flavour: AuthFlavour;
  let methodHeader: string;
  let uriHeader: string;
  if (endpoint === "/authz/forward-auth") {
    [flavour, methodHeader, uriHeader] = ["forward-auth", "x-forwarded-method", "x-forwarded-uri"];
  } else if (endpoint === "/authz/auth-request") {
    [flavour, methodHeader, uriHeader] = ["auth-request", "x-original-method", "x-original-uri"];
  } else {
    return {
      status: 404,
      error: "unknown endpoint: use /authz/forward-auth, /authz/auth-request or /authz/ext-authz/<path>",
    };
  }
  const original = { method: headers[methodHeader], uri: headers[uriHeader] };
  if (typeof original.method !== "string" || !METHOD.test(original.method))
    return missing(methodHeader, "the original request's method, such as GET");
  if (typeof original.uri !== "string" || !original.uri.startsWith("/"))
    return missing(uriHeader, "the original request's path and query, starting with /");
  const extensions = parseQuery(query === -1 ? "" : url.slice(query + 1));
  if ("error" in extensions) return { status: 400, error: extensions.error };
  return {
    flavour,
    method: original.method.toUpperCase(),
    path: original.uri,
    contextExtensions: extensions,
  };
}

function missing(header: string, expected: string): ForwardedRequestError {
  return { status: 400, error: `header ${header} is missing or invalid: expected ${expected}` };
}
