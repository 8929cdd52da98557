import { Code, ConnectError } from "@connectrpc/connect";
import { Authorization } from "../gen/envoy/service/auth/v3/external_auth_pb.js";

/** The largest request message each kind of call may send (config: KEYWARD_MAX_*_MESSAGE_BYTES). */
export interface MessageLimits {
  /** Keyward's own RPCs, health and reflection. */
  readonly maxBytes: number;
  /** Envoy's Authorization/Check: a whole header set, and a body when Envoy buffers one. */
  readonly maxCheckBytes: number;
}

/** The limit of a service's request messages, by its fully-qualified name. */
export function messageLimitOf(limits: MessageLimits, serviceTypeName: string): number {
  return serviceTypeName === Authorization.typeName ? limits.maxCheckBytes : limits.maxBytes;
}

/** The answer to a message beyond its limit: the size is said, the bytes are not read. */
export function messageTooLarge(size: number | undefined, limit: number): ConnectError {
  const what = size === undefined ? "the request message is" : `the request message (${size} bytes) is`;
  return new ConnectError(`${what} larger than the limit of ${limit} bytes`, Code.ResourceExhausted);
}
