import { ExportResultCode, W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  type ReadableSpan,
  type SpanExporter,
} from "@opentelemetry/sdk-trace-base";
import type { TracingConfig } from "../config.js";
import { redactedUrl } from "../database-url.js";
import type { Logger } from "../log.js";
import { tracedCalls } from "./traced-calls.js";
import type { Tracing, TracingTarget } from "./tracing.js";

/**
 * The OpenTelemetry SDK behind Tracing: a tracer provider of its own (nothing is registered
 * globally, so two servers in one process, as in the tests, do not share one), a batch processor,
 * and the OTLP/HTTP exporter, which sends JSON. Loaded only by startTracing, when traces are on.
 */
export function otelTracing(config: TracingConfig, target: TracingTarget, log: Logger): Tracing {
  const exporter = loggingFailures(new OTLPTraceExporter({ url: config.tracesUrl }), log, config.tracesUrl);
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({
      "service.name": config.serviceName,
      "service.version": target.version,
    }),
    spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: config.exportDelayMs })],
  });
  const calls = tracedCalls(provider.getTracer("keyward", target.version), new W3CTraceContextPropagator(), {
    dbSystem: target.dbSystem,
  });
  let stopping: Promise<void> | undefined;
  return {
    ...calls,
    shutdown() {
      stopping ??= boundedShutdown(provider, log);
      return stopping;
    },
  };
}

/**
 * How long SIGTERM waits for the last batch: the exporter retries an unreachable collector for up to
 * its own 10 s timeout, which would hold every drain that long for spans that are then lost anyway.
 */
const SHUTDOWN_BOUND_MS = 3_000;

function boundedShutdown(provider: BasicTracerProvider, log: Logger): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      log.warn("trace export unfinished at shutdown; its spans are dropped", {
        waited_ms: SHUTDOWN_BOUND_MS,
      });
      resolve();
    }, SHUTDOWN_BOUND_MS);
    timer.unref();
    provider
      .shutdown()
      .catch((error: unknown) => log.warn("trace shutdown failed", { error }))
      .finally(() => {
        clearTimeout(timer);
        resolve();
      });
  });
}

// Without this a failed export is silent (the SDK reports it to its global diag logger, unset here).
// At most one line per batch, so at most one per export delay.
function loggingFailures(exporter: SpanExporter, log: Logger, url: string): SpanExporter {
  return {
    export(spans: ReadableSpan[], done) {
      exporter.export(spans, (result) => {
        if (result.error !== undefined || result.code !== ExportResultCode.SUCCESS) {
          log.warn("trace export failed", {
            url: redactedUrl(url),
            spans: spans.length,
            error: result.error?.message ?? "failed",
          });
        }
        done(result);
      });
    },
    shutdown: () => exporter.shutdown(),
    forceFlush: () => exporter.forceFlush?.() ?? Promise.resolve(),
  };
}
