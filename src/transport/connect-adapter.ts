import type { ConnectRouter, HandlerContext } from "@connectrpc/connect";
import { createContextKey } from "@connectrpc/connect";
import type { ErrorConverter } from "./grpc-js-adapter.js";
import type { AnyHandler, CallContext, ServedService } from "./handler.js";

/** Carries the caller's address from the Node request into the handler context. */
export const peerKey = createContextKey<string>("");

/** Registers services on a Connect router (Connect protocol, JSON, gRPC-Web and gRPC). */
export function connectRoutes(services: readonly ServedService[], toError: ErrorConverter) {
  return (router: ConnectRouter): void => {
    for (const { service, handlers } of services) {
      const impl: Record<string, unknown> = {};
      for (const method of service.methods) {
        const handler = handlers[method.localName];
        if (handler === undefined) continue;
        const path = `/${service.typeName}/${method.name}`;
        impl[method.localName] =
          method.methodKind === "unary" ? unary(handler, path, toError) : streaming(handler, path, toError);
      }
      router.service(service, impl as Parameters<ConnectRouter["service"]>[1]);
    }
  };
}

function unary(handler: AnyHandler, path: string, toError: ErrorConverter) {
  return async (request: unknown, context: HandlerContext) => {
    try {
      return await handler(request, callContext(context));
    } catch (error) {
      throw toError(error, path);
    }
  };
}

function streaming(handler: AnyHandler, path: string, toError: ErrorConverter) {
  return async function* (input: unknown, context: HandlerContext) {
    try {
      yield* handler(input, callContext(context)) as AsyncIterable<unknown>;
    } catch (error) {
      throw toError(error, path);
    }
  };
}

function callContext(context: HandlerContext): CallContext {
  return {
    header: (name) => context.requestHeader.get(name) ?? undefined,
    peer: context.values.get(peerKey),
    signal: context.signal,
  };
}
