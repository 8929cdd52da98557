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
// How long an answered connection may keep sending before it is cut: enough for the
// client to read the answer, too little to stream much more at us.
const LINGER_MS = 1000;

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
  response.writeHead(413, {
    "content-type": "application/json",
    "content-length": body.byteLength,
    connection: "close",
  });
  const socket = request.socket;
  response.once("finish", () => closeSoon(socket));
  response.end(body);
  return true;
}

/**
 * An adapter that answers before it has read the whole body (a body without a length
 * beyond the limit) says `connection: close` and closes: the client must not reuse a
 * connection whose request is still being sent, and the rest is not worth reading.
 */
function closeIfAnsweredEarly(request: IncomingMessage, response: ServerResponse): void {
  const socket = request.socket; // detached from the request once the response is done
  const writeHead = response.writeHead;
  // Node decides `connection` when the head is written; this is the last moment to say close.
  response.writeHead = function (this: ServerResponse, ...args: Parameters<typeof writeHead>) {
    if (!request.complete) this.shouldKeepAlive = false;
    return writeHead.apply(this, args);
  } as typeof writeHead;
  response.once("finish", () => {
    if (!request.complete) closeSoon(socket);
  });
}

// Destroying the socket at once can reset the connection before the client has read the
// answer; ending it and cutting it a moment later lets the answer arrive without reading on.
function closeSoon(socket: Socket): void {
  socket.end();
  setTimeout(() => socket.destroy(), LINGER_MS).unref();
}
