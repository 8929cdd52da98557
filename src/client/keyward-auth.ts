import type { IncomingMessage, ServerResponse } from "node:http";
import type { AuthorizeResponse } from "../gen/keyward/v1/authorize_service_pb.js";
import { httpAuthorizer, type KeywardAuthOptions } from "./http-authorizer.js";

/** The request after keywardAuth allowed it: Keyward's answer (key id, workspace, scopes, limits). */
export interface KeywardRequest extends IncomingMessage {
  keyward?: AuthorizeResponse;
}

/**
 * Express/Connect-style middleware, `(req, res, next)`, for node:http-based servers: asks Keyward's
 * Authorize with the request's credential headers (only those are sent) and `scopes`. Allowed: the
 * answer is put on `req.keyward` and `next()` is called. Denied: the answer is written as Keyward's
 * Check and forward auth answer it (401/403/429, same headers and JSON body). Keyward unreachable, or
 * no answer within the client's deadline: 503 with `{"error":{"code":"unavailable",…}}`; it fails
 * closed, never calling `next()`. For Fastify, keywardFastifyHook answers the same way.
 *
 *   app.use("/orders", keywardAuth({ client: createKeywardClient({ address }), scopes: ["orders:read"] }));
 */
export function keywardAuth(options: KeywardAuthOptions) {
  const authorize = httpAuthorizer(options);
  return (request: KeywardRequest, response: ServerResponse, next: (error?: unknown) => void): void => {
    void authorize(request.headers).then((outcome) => {
      if (outcome.allowed) {
        request.keyward = outcome.answer;
        next();
        return;
      }
      const { denial } = outcome;
      response.statusCode = denial.status;
      for (const [name, value] of denial.headers) response.setHeader(name, value);
      response.end(denial.body);
    });
  };
}
