import {
  type DescMessage,
  type DescMethod,
  fromBinary,
  type MessageShape,
  toBinary,
} from "@bufbuild/protobuf";
import { Code, type ConnectError } from "@connectrpc/connect";
import type * as grpc from "@grpc/grpc-js";
import { encodeAnswer } from "../cache/answer-cache.js";
import type { AnyHandler, CallContext, ServedService } from "./handler.js";
import { messageTooLarge } from "./message-limits.js";

/** Converts a thrown value into the error sent to the caller (see errors.ts). */
export type ErrorConverter = (error: unknown, method: string) => ConnectError;

/**
 * Serves a protobuf-es service on a grpc-js server: the definition is built
 * from the generated descriptor (no proto-loader), each method routed to its
 * transport-agnostic handler. Request messages beyond maxMessageBytes are
 * answered RESOURCE_EXHAUSTED without being decoded.
 */
export function addGrpcService(
  server: grpc.Server,
  served: ServedService,
  toError: ErrorConverter,
  maxMessageBytes = Number.POSITIVE_INFINITY,
): void {
  const definition: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  const implementation: grpc.UntypedServiceImplementation = {};
  for (const method of served.service.methods) {
    const handler = served.handlers[method.localName];
    if (handler === undefined) continue;
    const path = `/${served.service.typeName}/${method.name}`;
    definition[method.localName] = {
      path,
      originalName: method.localName,
      requestStream: method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming",
      responseStream: method.methodKind === "server_streaming" || method.methodKind === "bidi_streaming",
      requestSerialize: serializer(method.input),
      requestDeserialize: deserializer(method.input, maxMessageBytes),
      responseSerialize: serializer(method.output),
      responseDeserialize: deserializer(method.output, Number.POSITIVE_INFINITY),
    };
    implementation[method.localName] = route(method, handler, path, toError);
  }
  server.addService(definition as grpc.ServiceDefinition, implementation);
}

/**
 * Stands in for a request that was not decoded, so that the handler answers with this error
 * (a throwing deserializer would make grpc-js say INTERNAL): bytes that are not the message
 * (INVALID_ARGUMENT), or more of them than the method takes (RESOURCE_EXHAUSTED).
 */
class Undecodable {
  constructor(readonly error: grpc.ServiceError) {}
}

function serializer(schema: DescMessage) {
  return (message: unknown): Buffer => {
    const bytes = encodeAnswer(message as object, () =>
      toBinary(schema, message as MessageShape<DescMessage>),
    );
    // grpc-js needs a Buffer; a plain Uint8Array fails every call with INTERNAL.
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
}

// grpc-js's own receive limit is server-wide, set to the largest method limit (server.ts); the
// smaller limits of the other methods are enforced here, before anything is decoded.
function deserializer(schema: DescMessage, maxBytes: number) {
  return (bytes: Buffer): unknown => {
    if (bytes.byteLength > maxBytes) {
      return new Undecodable(grpcError(messageTooLarge(bytes.byteLength, maxBytes)));
    }
    try {
      return fromBinary(schema, bytes);
    } catch {
      const message = `request is not a valid ${schema.typeName}`;
      return new Undecodable(grpcError({ code: Code.InvalidArgument, rawMessage: message }));
    }
  };
}

function grpcError(error: Pick<ConnectError, "code" | "rawMessage">): grpc.ServiceError {
  return Object.assign(new Error(error.rawMessage), {
    code: error.code as number,
    details: error.rawMessage,
  }) as never;
}

// biome-ignore lint/suspicious/noExplicitAny: grpc-js call objects differ per method kind.
type AnyCall = any;

function route(method: DescMethod, handler: AnyHandler, path: string, toError: ErrorConverter) {
  const fail = (error: unknown) => grpcError(toError(error, path));
  switch (method.methodKind) {
    case "unary":
      return (call: AnyCall, callback: grpc.sendUnaryData<unknown>) => {
        if (call.request instanceof Undecodable) return callback(call.request.error);
        let result: unknown;
        try {
          result = handler(call.request, callContext(call));
        } catch (error) {
          return callback(fail(error));
        }
        if (result instanceof Promise) {
          result.then(
            (response) => callback(null, response),
            (error: unknown) => callback(fail(error)),
          );
        } else {
          callback(null, result);
        }
      };
    case "server_streaming":
      return (call: AnyCall) => {
        if (call.request instanceof Undecodable) return call.emit("error", call.request.error);
        void pipe(handler(call.request, callContext(call)), call, fail);
      };
    case "bidi_streaming":
      return (call: AnyCall) => {
        void pipe(handler(decodedRequests(call), callContext(call)), call, fail);
      };
    case "client_streaming":
      throw new Error(`client streaming is not supported (${path})`);
  }
}

async function* decodedRequests(call: AnyCall): AsyncIterable<unknown> {
  // A plain for-await destroys the duplex when the client half-closes, and a destroyed
  // call never sends its status: the client would wait forever.
  for await (const request of call.iterator({ destroyOnReturn: false })) {
    if (request instanceof Undecodable) throw request.error;
    yield request;
  }
}

async function pipe(
  responses: AsyncIterable<unknown>,
  call: AnyCall,
  fail: (error: unknown) => grpc.ServiceError,
) {
  try {
    for await (const response of responses) {
      if (call.cancelled) return;
      call.write(response);
    }
    call.end();
  } catch (error) {
    if (!call.cancelled) call.emit("error", isServiceError(error) ? error : fail(error));
  }
}

function isServiceError(error: unknown): error is grpc.ServiceError {
  return error instanceof Error && typeof (error as { code?: unknown }).code === "number";
}

/**
 * The CallContext of a grpc-js call. A class rather than an object of closures:
 * one small allocation per call, and the AbortController only when a handler asks.
 */
class GrpcCallContext implements CallContext {
  private controller: AbortController | undefined;
  constructor(private readonly call: AnyCall) {}

  header(name: string): string | undefined {
    const value = (this.call.metadata as grpc.Metadata).get(name)[0];
    return typeof value === "string" ? value : undefined;
  }

  get peer(): string {
    return this.call.getPeer() as string;
  }

  get signal(): AbortSignal {
    if (this.controller === undefined) {
      const created = new AbortController();
      this.controller = created;
      if (this.call.cancelled) created.abort();
      else this.call.once("cancelled", () => created.abort());
    }
    return this.controller.signal;
  }
}

function callContext(call: AnyCall): CallContext {
  return new GrpcCallContext(call);
}
