import type { TracingConfig } from "../config.js";
import type { Logger } from "../log.js";
import type { StoreObserver } from "../store/database.js";
import type { ServedService } from "../transport/handler.js";
import type { NodeHandler } from "../transport/http-body-limits.js";

// Only types here: keyward.ts imports this file in every process, and the OpenTelemetry SDK and
// exporter are loaded (otel-tracing.ts, by a dynamic import) only when traces are configured
// (config.ts: an OTLP endpoint set, OTEL_SDK_DISABLED not true). @opentelemetry/api is in every process anyway: prom-client requires it (bench scenario 12).

/** OpenTelemetry spans for a running Keyward: what to wrap, what to observe, and the final flush. */
export interface Tracing {
  /**
   * The services with each unary handler in a SERVER span named `<package.Service>/<Method>`, a child
   * of the caller's span when the call carries W3C trace context (`traceparent`, `tracestate`).
   * Streaming methods (health Watch, reflection) are left as they are.
   */
  wrapServices(services: readonly ServedService[]): ServedService[];
  /** The forward-auth handler (/authz/*) in a SERVER span, joined to the gateway's trace likewise. */
  wrapForwardAuth(handler: NodeHandler): NodeHandler;
  /**
   * A CLIENT span for each store call made inside a traced call, its child, timed by the call it
   * observes (store calls outside any call, such as the usage flush, are not traced).
   */
  readonly observeStore: StoreObserver;
  /** Exports the spans still waiting in the batch, then stops; later spans are dropped. */
  shutdown(): Promise<void>;
}

/** What the spans say about the process and its store. */
export interface TracingTarget {
  readonly version: string;
  /** The store's engine, as OpenTelemetry names it (db.system.name). */
  readonly dbSystem: "sqlite" | "postgresql";
}

/**
 * Starts exporting spans over OTLP/HTTP (JSON) when the config asks for it; undefined when it does
 * not, and then nothing of the SDK is loaded and no handler changes.
 */
export async function startTracing(
  config: TracingConfig | undefined,
  target: TracingTarget,
  log: Logger,
): Promise<Tracing | undefined> {
  if (config === undefined) return undefined;
  const { otelTracing } = await import("./otel-tracing.js");
  return otelTracing(config, target, log);
}

/** The services to serve: the very same objects when tracing is off, wrapped when it is on. */
export function tracedServices(
  tracing: Tracing | undefined,
  services: readonly ServedService[],
): readonly ServedService[] {
  return tracing === undefined ? services : tracing.wrapServices(services);
}

/** The forward-auth handler to serve: the same one when tracing is off, in a span when it is on. */
export function tracedForwardAuth(tracing: Tracing | undefined, handler: NodeHandler): NodeHandler {
  return tracing === undefined ? handler : tracing.wrapForwardAuth(handler);
}
