import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { ROOT_CONTEXT, trace } from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { BasicTracerProvider, BatchSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../support/free-port.js";

// Scenario 12's validity rests on the sink's span count: checked here against the exporter Keyward
// uses, with child spans (whose parentSpanId must not be counted as a span of its own).

describe("bench/otlp-sink.ts", () => {
  let sink: ChildProcess;
  let address: string;

  beforeAll(async () => {
    address = `127.0.0.1:${await freePort()}`;
    sink = spawn(process.execPath, ["--import", "tsx", "bench/otlp-sink.ts", "--listen", address], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    await once(sink.stdout as NodeJS.ReadableStream, "data");
  });

  afterAll(async () => {
    sink.kill("SIGTERM");
    if (sink.exitCode === null) await once(sink, "exit");
  });

  it("counts every span an OTLP/HTTP export carries, and agrees with the parsed JSON", async () => {
    const provider = new BasicTracerProvider({
      spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: `http://${address}/v1/traces` }))],
    });
    const tracer = provider.getTracer("test");
    for (let i = 0; i < 3; i++) {
      const parent = tracer.startSpan(`call ${i}`);
      tracer.startSpan(`store ${i}`, {}, trace.setSpan(ROOT_CONTEXT, parent)).end();
      parent.end();
    }
    await provider.shutdown();
    const totals = (await (await fetch(`http://${address}/count`)).json()) as Record<string, unknown>;
    expect(totals).toMatchObject({ spans: 6, checked: true, refused: 0 });
  });
});
