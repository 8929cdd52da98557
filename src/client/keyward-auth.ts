import type { IncomingMessage, ServerResponse } from "node:http";
import type { AuthorizeResponse } from "../gen/keyward/v1/authorize_service_pb.js";
import { httpDenial } from "./denied-answer.js";
import type { KeywardClient } from "./keyward-client.js";

/** What keywardAuth needs: a client, and what the routes it guards require. */
export interface KeywardAuthOptions {
  readonly client: Pick<KeywardClient, "authorize">;
  /** Scopes every request must hold (`resource:action`). */
  readonly scopes?: readonly string[];
  /** Headers that may carry the key, in order; Keyward's defaults when absent. */
  readonly credentialHeaders?: readonly string[];
}

/** The request after keywardAuth allowed it: Keyward's answer (key id, workspace, scopes, limits). */
export interface KeywardRequest extends IncomingMessage {
  keyward?: AuthorizeResponse;
}

const CREDENTIAL_HEADERS = ["x-api-key", "authorization"];

/**
 * Express/Connect-style middleware, `(req, res, next)`, for node:http-based servers: asks Keyward's
 * Authorize with the request's credential headers (only those are sent) and `scopes`. Allowed: the
 * answer is put on `req.keyward` and `next()` is called. Denied: the answer is written as Keyward's
 * Check and forward auth answer it (401/403/429, same headers and JSON body). Keyward unreachable, or
 * no answer within the client's deadline: 503 with `{"error":{"code":"unavailable",…}}`; it fails
 * closed, never calling `next()`.
 *
 *   app.use("/orders", keywardAuth({ client: createKeywardClient({ address }), scopes: ["orders:read"] }));
 */
export function keywardAuth(options: KeywardAuthOptions) {
  const scopes = [...(options.scopes ?? [])];
  const names = options.credentialHeaders ?? CREDENTIAL_HEADERS;
  return (request: KeywardRequest, response: ServerResponse, next: (error?: unknown) => void): void => {
    const headers: Record<string, string> = {};
    for (const name of names) {
      const value = request.headers[name];
      if (typeof value === "string") headers[name] = value;
    }
    options.client.authorize.authorize({ headers, requiredScopes: scopes }).then(
      (answer) => {
        if (answer.allowed) {
          request.keyward = answer;
          next();
          return;
        }
        const denial = httpDenial(answer, scopes);
        response.statusCode = denial.status;
        for (const [name, value] of denial.headers) response.setHeader(name, value);
        response.end(denial.body);
      },
      () => {
        response.statusCode = 503;
        response.setHeader("content-type", "application/json");
        response.end(
          JSON.stringify({ error: { code: "unavailable", message: "Keyward cannot be reached" } }),
        );
      },
    );
  };
}
