import type { AuthorizeResponse } from "../gen/keyward/v1/authorize_service_pb.js";
import { type HttpDenial, httpDenial } from "./denied-answer.js";
import type { KeywardClient } from "./keyward-client.js";

/** What the HTTP helpers (keywardAuth, keywardFastifyHook) need: a client, and what their routes require. */
export interface KeywardAuthOptions {
  readonly client: Pick<KeywardClient, "authorize">;
  /** Scopes every request must hold (`resource:action`). */
  readonly scopes?: readonly string[];
  /** Headers that may carry the key, in order; Keyward's defaults when absent. */
  readonly credentialHeaders?: readonly string[];
}

/** A request's headers as node:http and Fastify hold them (names in lower case). */
export type RequestHeaders = Readonly<Record<string, string | string[] | undefined>>;

/** Keyward's decision on one request: its answer when allowed, else what the service answers. */
export type HttpAuthorization =
  | { readonly allowed: true; readonly answer: AuthorizeResponse }
  | { readonly allowed: false; readonly denial: HttpDenial };

const CREDENTIAL_HEADERS = ["x-api-key", "authorization"];

/**
 * Asks Authorize with a request's credential headers (only those are sent) and the options' scopes.
 * A denial becomes what Check answers (httpDenial); Keyward unreachable, or no answer within the
 * client's deadline, becomes a 503 `{"error":{"code":"unavailable",…}}`: the helpers fail closed.
 * The one place the HTTP helpers share, so that a framework adapter only writes the outcome.
 */
export function httpAuthorizer(
  options: KeywardAuthOptions,
): (headers: RequestHeaders) => Promise<HttpAuthorization> {
  const scopes = [...(options.scopes ?? [])];
  const names = options.credentialHeaders ?? CREDENTIAL_HEADERS;
  return (requestHeaders) => {
    const headers: Record<string, string> = {};
    for (const name of names) {
      const value = requestHeaders[name];
      if (typeof value === "string") headers[name] = value;
    }
    return options.client.authorize.authorize({ headers, requiredScopes: scopes }).then(
      (answer): HttpAuthorization =>
        answer.allowed ? { allowed: true, answer } : { allowed: false, denial: httpDenial(answer, scopes) },
      (): HttpAuthorization => ({ allowed: false, denial: unavailable() }),
    );
  };
}

/** The answer when Keyward cannot be reached; made afresh each time, as its headers are a mutable list. */
function unavailable(): HttpDenial {
  return {
    status: 503,
    headers: [["content-type", "application/json"]],
    body: JSON.stringify({ error: { code: "unavailable", message: "Keyward cannot be reached" } }),
  };
}
