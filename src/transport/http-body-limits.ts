import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { errorToJsonBytes } from "@connectrpc/connect/protocol-connect";
import type { ServedService } from "./handler.js";
import { type MessageLimits, messageLimitOf, messageTooLarge } from "./message-limits.js";

/** A Node HTTP request listener. */
export type NodeHandler = (request: IncomingMessage, response: ServerResponse) => void;

/** Builds a connect-node adapter for some services, reading at most readMaxBytes per message. */
export type AdapterFactory = (services: readonly ServedService[], readMaxBytes: number) => NodeHandler;

// gRPC and the Connect streaming protocols put a 5-byte prefix before each message.
const ENVELOPE_BYTES = 5;
// How long an answered connection may keep sending before it is cut: enough for a busy
// client to read the answer first, too short to hold many such connections (nginx: 5 s).
const LINGER_MS = 2000;

/**
 * The HTTP listener's RPC handler: each service is served by an adapter
 * whose readMaxBytes is its message limit, and a body whose Content-Length
 * is beyond that limit is answered 413 `resource_exhausted` before a byte of
 * it is read. A body sent without a length is read up to the limit and then
 * answered by the adapter (`resource_exhausted`, which the Connect protocol
 * maps to 429). Either way the connection is closed instead of draining the rest.
 */
export function limitedConnectHandler(
  services: readonly ServedService[],
  limits: MessageLimits,
  adapter: AdapterFactory,
): NodeHandler {
  const byLimit = new Map<number, ServedService[]>([[limits.maxBytes, []]]);
  for (const served of services) {
    const limit = messageLimitOf(limits, served.service.typeName);
    byLimit.set(limit, [...(byLimit.get(limit) ?? []), served]);
  }
  const adapters = new Map([...byLimit].map(([limit, group]) => [limit, adapter(group, limit)]));
  return (request, response) => {
    const limit = limitOfUrl(limits, request.url);
    if (refuseOversized(request, response, limit)) return;
    closeIfAnsweredEarly(request, response);
    (adapters.get(limit) ?? (adapters.get(limits.maxBytes) as NodeHandler))(request, response);
  };
}

/**
 * For the server's 'checkContinue' event (`Expect: 100-continue`, as curl sends
 * for large bodies): an oversized body is refused before the client sends it.
 */
export function continueWithinLimits(limits: MessageLimits, handler: NodeHandler): NodeHandler {
  return (request, response) => {
    if (refuseOversized(request, response, limitOfUrl(limits, request.url))) return;
    response.writeContinue();
    handler(request, response);
  };
}

function limitOfUrl(limits: MessageLimits, url = ""): number {
  // `/<package>.<Service>/<Method>`
  const end = url.indexOf("/", 1);
  return messageLimitOf(limits, end === -1 ? "" : url.slice(1, end));
}

function refuseOversized(request: IncomingMessage, response: ServerResponse, limit: number): boolean {
  const length = Number(request.headers["content-length"]);
  const contentType = request.headers["content-type"] ?? "";
  const enveloped =
    contentType.startsWith("application/grpc") || contentType.startsWith("application/connect+");
  if (!(length > limit + (enveloped ? ENVELOPE_BYTES : 0))) return false;
  const body = errorToJsonBytes(messageTooLarge(enveloped ? undefined : length, limit), {});
  lingerOnClose(request.socket);
  response.writeHead(413, {
    "content-type": "application/json",
    "content-length": body.byteLength,
    connection: "close",
  });
  response.end(body);
  return true;
}

/**
 * An adapter that answers before it has read the whole body (a body without a length
 * beyond the limit) says `connection: close` and closes: the client must not reuse a
 * connection whose request is still being sent, and the rest is not worth reading.
 */
function closeIfAnsweredEarly(request: IncomingMessage, response: ServerResponse): void {
  const socket = request.socket; // the request lets go of it once its body is abandoned
  const writeHead = response.writeHead;
  // Node decides `connection` when the head is written; this is the last moment to say close.
  response.writeHead = function (this: ServerResponse, ...args: Parameters<typeof writeHead>) {
    if (!request.complete) {
      this.shouldKeepAlive = false;
      lingerOnClose(socket);
    }
    return writeHead.apply(this, args);
  } as typeof writeHead;
}

/**
 * Node closes the socket of a `connection: close` answer as soon as the answer is flushed
 * (destroySoon). With request bytes still arriving, that close is a reset, and a client
 * still sending may lose the answer before reading it (EPIPE). Instead our side is ended,
 * what still comes is discarded or left unread, and the socket is cut a moment later.
 */
export function lingerOnClose(socket: Socket): void {
  socket.destroySoon = () => {
    socket.end();
    setTimeout(() => socket.destroy(), LINGER_MS).unref();
  };
}
