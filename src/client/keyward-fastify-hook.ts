import type { AuthorizeResponse } from "../gen/keyward/v1/authorize_service_pb.js";
import { httpAuthorizer, type KeywardAuthOptions, type RequestHeaders } from "./http-authorizer.js";

// The parts of Fastify's request and reply the hook uses, declared here so that keyward/client does not
// depend on fastify (a Fastify 5 FastifyRequest and FastifyReply are assignable to them).

/**
 * A Fastify request as the hook sees it; `keyward` holds Keyward's answer once allowed. `| undefined`
 * so that a request augmented with `keyward?: KeywardFastifyRequest["keyward"]` fits under
 * exactOptionalPropertyTypes too.
 */
export interface KeywardFastifyRequest {
  readonly headers: RequestHeaders;
  keyward?: AuthorizeResponse | undefined;
}

/** The part of a Fastify reply the hook answers a denial with. */
export interface KeywardFastifyReply {
  code(statusCode: number): KeywardFastifyReply;
  headers(values: Record<string, string>): KeywardFastifyReply;
  send(payload: Buffer): KeywardFastifyReply;
}

/**
 * A Fastify `onRequest` (or `preHandler`) hook that decides as keywardAuth does: Authorize with the
 * request's credential headers and `scopes`. Allowed: the answer is on `request.keyward` and the route
 * runs. Denied: 401/403/429 with Check's headers and JSON body, sent through the reply; Keyward
 * unreachable: 503. It fails closed. test/client/http-guards.test.ts runs it in a Fastify app.
 *
 *   app.get("/orders", { onRequest: keywardFastifyHook({ client, scopes: ["orders:read"] }) }, handler);
 */
export function keywardFastifyHook(options: KeywardAuthOptions) {
  const authorize = httpAuthorizer(options);
  return async (request: KeywardFastifyRequest, reply: KeywardFastifyReply): Promise<unknown> => {
    const outcome = await authorize(request.headers);
    if (outcome.allowed) {
      request.keyward = outcome.answer;
      return undefined;
    }
    const { denial } = outcome;
    // A Buffer, not the string: Fastify would add "; charset=utf-8" to the content type of a string.
    // Returning the reply tells Fastify that an async hook has answered (its Hooks docs).
    return reply
      .code(denial.status)
      .headers(Object.fromEntries(denial.headers))
      .send(Buffer.from(denial.body));
  };
}
