import { fromBinary } from "@bufbuild/protobuf";
import { AuthorizeResponseSchema } from "../src/gen/keyward/v1/authorize_service_pb.js";
import { Reason } from "../src/gen/keyward/v1/key_pb.js";
import { type BenchContext, type ScenarioResult, signed } from "./context.js";
import { H2LOAD_SHAPE } from "./h2load.js";
import { authorizeCachedRequest, exact, h2Rounds, startPair, stopPair } from "./h2load-scenarios.js";
import { type LoadedModules, loadedModules, packageOf } from "./loaded-modules.js";
import { summarize } from "./measure.js";
import { CLOCK_TICK_US, type PinnedServer } from "./processes.js";
import { startOtlpSink } from "./servers.js";

/**
 * The one OpenTelemetry package a Keyward with traces off holds: prom-client 15 (the /metrics
 * registry) requires @opentelemetry/api when it loads (lib/metrics/processCpuTotal.js, for exemplars,
 * which Keyward leaves off), and the API without an SDK is a no-op facade. The SDK, the exporter and
 * Keyward's own tracing code (the only importers of the rest) must stay unloaded.
 */
const LOADED_WHEN_OFF: ReadonlySet<string> = new Set(["@opentelemetry/api"]);

/** What bench/otlp-sink.ts has received so far. */
interface SinkTotals {
  readonly exports: number;
  readonly spans: number;
  readonly bytes: number;
  readonly refused: number;
  /** Whether the first export's span count by key agreed with its parsed JSON; undefined before one. */
  readonly checked: boolean | undefined;
}

async function sinkTotals(sink: PinnedServer): Promise<SinkTotals> {
  const response = await fetch(`http://${sink.address}/count`);
  return (await response.json()) as SinkTotals;
}

/**
 * Scenario 12 (issue 15): scenario 1 with traces on. Keyward gets OTEL_EXPORTER_OTLP_ENDPOINT
 * pointing at bench/otlp-sink.ts, and nothing else: the SDK's defaults (parent-based always-on, so
 * every call of h2load, which sends no trace context, starts a sampled trace; the batch processor's
 * queue and batch sizes). Its cost is reported against scenario 1 (traces off, the default), as
 * scenario 8's; no target. Before the runs it also shows what "off" loads: a Keyward started as
 * scenario 1's, with a module probe preloaded, must have loaded no OpenTelemetry package but the API
 * prom-client brings (LOADED_WHEN_OFF), and one started with traces on must have loaded the SDK (else
 * the probe sees nothing and proves nothing).
 */
export async function tracingScenario(
  context: BenchContext,
  scenario1: ScenarioResult | undefined,
): Promise<ScenarioResult> {
  const request = authorizeCachedRequest(context);
  const sink = await startOtlpSink({ tempDir: context.tempDir });
  try {
    const env = { OTEL_EXPORTER_OTLP_ENDPOINT: `http://${sink.address}` };
    const modules = {
      tracingOff: await loadedModules(context, "tracing-off", request, {}),
      tracingOn: await loadedModules(context, "tracing-on", request, env),
    };
    context.progress(`scenario 12 modules: ${describeModules(modules)}`);
    const unexpected = packages(modules.tracingOff).filter((name) => !LOADED_WHEN_OFF.has(name));
    if (unexpected.length > 0)
      throw new Error(`scenario 12: Keyward with traces off loaded ${unexpected.join(", ")}`);
    if (!packages(modules.tracingOn).some((name) => !LOADED_WHEN_OFF.has(name)))
      throw new Error("scenario 12: the module probe saw no OpenTelemetry SDK module with traces on");

    const before = await sinkTotals(sink);
    const sinkTicks = sink.cpuTicks();
    const { servers, answer } = await startPair(context, "authorize-traced", request, env);
    let runs: Awaited<ReturnType<typeof h2Rounds>>;
    try {
      const reason = fromBinary(AuthorizeResponseSchema, answer).reason;
      if (reason !== Reason.ALLOWED)
        throw new Error(`scenario 12: Keyward answered ${Reason[reason]}, not ALLOWED`);
      const frames = { keyward: exact(answer), echo: exact(answer) };
      runs = await h2Rounds(context, "12", servers, request, frames, context.config.warmRequests);
    } finally {
      // SIGTERM makes Keyward send the spans still in its batch before it exits.
      await stopPair(servers);
    }
    const after = await sinkTotals(sink);
    const sinkCpuUs = (sink.cpuTicks() - sinkTicks) * CLOCK_TICK_US;
    const spans = after.spans - before.spans;
    // nghttp's check and the captured call, the warm-up, the rounds: one Authorize span each.
    const calls = 2 + context.config.warmRequests + runs.keyward.reduce((sum, run) => sum + run.requests, 0);
    context.progress(
      `scenario 12: the sink received ${spans} spans in ${after.exports - before.exports} exports for ${calls} calls`,
    );

    const summary = summarize(runs.keyward);
    const keyward = { ...summary, valid: summary.valid && spans > 0 && after.checked === true };
    const echo = summarize(runs.echo);
    const untraced = scenario1?.keyward?.valid === true ? scenario1.keyward.callsPerSecond : undefined;
    // What tracing adds to one call, in server time: the difference of the inverse throughputs.
    const costUs =
      keyward.valid && untraced !== undefined ? (1 / keyward.callsPerSecond - 1 / untraced) * 1e6 : undefined;
    const vsScenario1 = untraced === undefined ? undefined : keyward.callsPerSecond / untraced;
    const ratio = keyward.callsPerSecond / echo.callsPerSecond;
    return {
      id: "12",
      name: "Authorize, cached key, traced (OTLP/HTTP to a local sink, every call sampled)",
      tool: `h2load -c ${H2LOAD_SHAPE.clients} -m ${H2LOAD_SHAPE.streams}`,
      keyward,
      echo,
      ratio,
      roundRatios: runs.keyward.map(
        (run, i) => run.callsPerSecond / (runs.echo[i]?.callsPerSecond ?? Number.NaN),
      ),
      target: "none (report only)",
      met: undefined,
      margin: margin(keyward.valid, spans, vsScenario1, costUs),
      runs,
      details: {
        spansReceived: spans,
        callsSent: calls,
        // 1 when every call's span arrived, a little more with the store spans of calls that read the
        // store (the first call of the key, not yet cached); less when the batch processor dropped
        // spans (its queue full) or the last flush was lost.
        spansPerCall: Math.round((spans / calls) * 1000) / 1000,
        sinkExports: after.exports - before.exports,
        sinkBytes: after.bytes - before.bytes,
        sinkRefused: after.refused - before.refused,
        sinkCountCheckedAgainstJson: after.checked,
        sinkCpuUsPerSpan: spans > 0 ? Math.round((sinkCpuUs / spans) * 100) / 100 : undefined,
        vsScenario1,
        // Scenario 12's ratio to its echo server over scenario 1's: the same comparison, with the
        // machine's drift between the two scenarios' runs divided out.
        ratioVsScenario1Ratio:
          scenario1?.ratio === undefined ? undefined : Math.round((ratio / scenario1.ratio) * 1000) / 1000,
        tracingCostMicroseconds: costUs === undefined ? undefined : Math.round(costUs * 100) / 100,
        // The same cost from the server's CPU time per call (medians), which other processes on
        // the CPU disturb less than calls/s.
        cpuUsPerCall:
          scenario1?.keyward === undefined
            ? undefined
            : {
                tracingOff: scenario1.keyward.cpuUsPerCall,
                tracingOn: keyward.cpuUsPerCall,
                added: Math.round((keyward.cpuUsPerCall - scenario1.keyward.cpuUsPerCall) * 10) / 10,
              },
        modules: {
          tracingOff: summarizeModules(modules.tracingOff),
          tracingOn: summarizeModules(modules.tracingOn),
        },
      },
    };
  } finally {
    await sink.stop();
  }
}

function margin(valid: boolean, spans: number, vsScenario1?: number, costUs?: number): string {
  if (!valid) return spans === 0 ? "INVALID: the sink received no span" : "INVALID";
  const spansText = `${spans.toLocaleString("en-US")} spans`;
  if (vsScenario1 === undefined || costUs === undefined) return `n/a: scenario 1 not run; ${spansText}`;
  return `${vsScenario1.toFixed(2)} of 1's calls/s, ${signed(costUs, 1)} µs/call; ${spansText}`;
}

/** The @opentelemetry packages among the loaded modules. */
function packages(modules: LoadedModules): string[] {
  return [...new Set(modules.opentelemetry.map(packageOf))].sort();
}

/** Where a module lies under node_modules, e.g. prom-client/lib/metrics/processCpuTotal.js. */
function underNodeModules(path: string): string {
  const at = path.lastIndexOf("/node_modules/");
  return at === -1 ? path : path.slice(at + "/node_modules/".length);
}

function summarizeModules(modules: LoadedModules) {
  return {
    commonJsModules: modules.commonJsModules,
    opentelemetryModules: modules.opentelemetry.length,
    opentelemetryPackages: packages(modules),
    requiredBy: [
      ...new Set(
        modules.requiredBy.map(({ module, by }) => `${underNodeModules(by)} → ${packageOf(module)}`),
      ),
    ],
  };
}

function describeModules(modules: Record<"tracingOff" | "tracingOn", LoadedModules>): string {
  const side = (m: LoadedModules) => {
    const { opentelemetryModules, opentelemetryPackages, requiredBy } = summarizeModules(m);
    const by = requiredBy.length > 0 ? `, required by ${requiredBy.join(", ")}` : "";
    return `${opentelemetryModules} @opentelemetry modules (${opentelemetryPackages.join(", ") || "none"})${by}`;
  };
  return `traces off: ${side(modules.tracingOff)}; traces on: ${side(modules.tracingOn)}`;
}
