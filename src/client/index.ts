// keyward/client: what other services import to call Keyward (package.json "exports").
export { type HttpDenial, httpDenial } from "./denied-answer.js";
export type { KeywardAuthOptions } from "./http-authorizer.js";
export { type KeywardRequest, keywardAuth } from "./keyward-auth.js";
export {
  AUTHORIZE_TIMEOUT_MS,
  createKeywardClient,
  type KeywardClient,
  type KeywardClientOptions,
  MANAGEMENT_TIMEOUT_MS,
  RETRIES,
} from "./keyward-client.js";
export {
  type KeywardFastifyReply,
  type KeywardFastifyRequest,
  keywardFastifyHook,
} from "./keyward-fastify-hook.js";
export type { CallOptions, UnaryClient } from "./unary-client.js";
