import { AsyncLocalStorage } from "node:async_hooks";
import type { IncomingMessage } from "node:http";
import { ConnectError } from "@connectrpc/connect";
import {
  type Attributes,
  type Context,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  type TextMapPropagator,
  type Tracer,
  trace,
} from "@opentelemetry/api";
import type { StoreObserver } from "../store/database.js";
import type { AnyHandler, CallContext } from "../transport/handler.js";
import type { NodeHandler } from "../transport/http-body-limits.js";
import type { Tracing, TracingTarget } from "./tracing.js";

// The span of the call being served travels with it in an AsyncLocalStorage of this Tracing's own
// (not OpenTelemetry's global context manager): the store observer, called in the call's async
// context, finds its parent there.

/** Trace context is the only thing read from a call's headers (never a credential). */
const callHeaders: TextMapGetter<CallContext> = {
  keys: () => [],
  get: (call, key) => call.header(key),
};

const requestHeaders: TextMapGetter<IncomingMessage> = {
  keys: () => [],
  get: (request, key) => request.headers[key],
};

/** The spans of calls and of the store calls they make, on one tracer. */
export function tracedCalls(
  tracer: Tracer,
  propagator: TextMapPropagator,
  target: Pick<TracingTarget, "dbSystem">,
): Omit<Tracing, "shutdown"> {
  const current = new AsyncLocalStorage<Context>();

  const wrapUnary = (service: string, method: string, handler: AnyHandler): AnyHandler => {
    const name = `${service}/${method}`;
    const attributes: Attributes = { "rpc.system": "grpc", "rpc.service": service, "rpc.method": method };
    return (request, call: CallContext) => {
      const parent = propagator.extract(ROOT_CONTEXT, call, callHeaders);
      const span = tracer.startSpan(name, { kind: SpanKind.SERVER, attributes }, parent);
      let result: unknown;
      try {
        result = current.run(trace.setSpan(parent, span), handler, request, call);
      } catch (error) {
        endFailed(span, error);
        throw error;
      }
      if (!(result instanceof Promise)) {
        endOk(span);
        return result;
      }
      return result.then(
        (response: unknown) => {
          endOk(span);
          return response;
        },
        (error: unknown) => {
          endFailed(span, error);
          throw error;
        },
      );
    };
  };

  return {
    wrapServices: (services) =>
      services.map(({ service, handlers }) => {
        const wrapped: Record<string, AnyHandler> = { ...handlers };
        for (const method of service.methods) {
          const handler = handlers[method.localName];
          if (handler === undefined || method.methodKind !== "unary") continue;
          wrapped[method.localName] = wrapUnary(service.typeName, method.name, handler);
        }
        return { service, handlers: wrapped };
      }),

    wrapForwardAuth: (handler: NodeHandler): NodeHandler => {
      // The route, not the URL: the path and query name the original request's route and scopes.
      return (request, response) => {
        const parent = propagator.extract(ROOT_CONTEXT, request, requestHeaders);
        const span = tracer.startSpan(
          "GET /authz/*",
          {
            kind: SpanKind.SERVER,
            attributes: { "http.request.method": request.method ?? "", "http.route": "/authz/*" },
          },
          parent,
        );
        response.once("close", () => {
          span.setAttribute("http.response.status_code", response.statusCode);
          // A 401/403 is the answer asked for; only the server's own failures are errors (as for HTTP servers in OTel).
          if (response.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
          span.end();
        });
        current.run(trace.setSpan(parent, span), handler, request, response);
      };
    },

    observeStore: ((operation, seconds, failed) => {
      const parent = current.getStore();
      if (parent === undefined) return;
      const end = performance.timeOrigin + performance.now();
      const span = tracer.startSpan(
        `store ${operation}`,
        {
          kind: SpanKind.CLIENT,
          startTime: end - seconds * 1000,
          attributes: { "db.system.name": target.dbSystem, "keyward.store.operation": operation },
        },
        parent,
      );
      if (failed) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end(end);
    }) satisfies StoreObserver,
  };
}

function endOk(span: Span): void {
  span.setAttribute("rpc.grpc.status_code", 0);
  span.end();
}

// The code the caller will see when the handler threw one; otherwise the adapter's toRpcError turns
// it into INTERNAL or UNAVAILABLE and logs the cause. No message: the type names what went wrong.
function endFailed(span: Span, error: unknown): void {
  if (error instanceof ConnectError) span.setAttribute("rpc.grpc.status_code", error.code);
  span.setAttribute("error.type", error instanceof Error ? error.name : typeof error);
  span.setStatus({ code: SpanStatusCode.ERROR });
  span.end();
}
