import { once } from "node:events";
import { readdirSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { createLogger } from "../../src/log.js";
import { startTracing, tracedForwardAuth, tracedServices } from "../../src/tracing/tracing.js";
import { healthService } from "../../src/transport/health-service.js";
import { envoyCheckRequest, envoyClient } from "../envoy/envoy-request.js";
import { useServer } from "../support/use-server.js";

// Issue 15: spans for each RPC and store call, exported over OTLP/HTTP (JSON) to a receiver of the
// test's own on a real socket, and joined to the caller's trace by its W3C traceparent.

interface OtlpAttribute {
  key: string;
  value: { stringValue?: string; intValue?: string | number; boolValue?: boolean };
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: OtlpAttribute[];
  status?: { code?: number };
}
interface Received {
  resource: Record<string, string | number | boolean | undefined>;
  span: OtlpSpan;
}

const SPAN_KIND_SERVER = 2; // OTLP's enum (opentelemetry-proto trace.proto), not the API's
const SPAN_KIND_CLIENT = 3;

/** An OTLP/HTTP receiver: POST /v1/traces with the JSON encoding, every span kept with its resource. */
function otlpReceiver() {
  const spans: Received[] = [];
  const bodies: string[] = [];
  const paths: string[] = [];
  const tokens: (string | undefined)[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      paths.push(`${request.method} ${request.url} ${request.headers["content-type"]}`);
      tokens.push(request.headers["x-collector-token"] as string | undefined);
      const body = Buffer.concat(chunks).toString("utf8");
      bodies.push(body);
      for (const resourceSpans of JSON.parse(body).resourceSpans ?? []) {
        const resource = attributesOf(resourceSpans.resource?.attributes ?? []);
        for (const scope of resourceSpans.scopeSpans ?? []) {
          for (const span of scope.spans ?? []) spans.push({ resource, span });
        }
      }
      response.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  return { server, spans, bodies, paths, tokens };
}

function attributesOf(attributes: OtlpAttribute[]): Record<string, string | number | boolean | undefined> {
  return Object.fromEntries(
    attributes.map(({ key, value }) => [
      key,
      value.stringValue ?? (value.intValue === undefined ? value.boolValue : Number(value.intValue)),
    ]),
  );
}

/** An otlpReceiver listening on a loopback port for the tests of the enclosing describe block. */
function useOtlpReceiver() {
  const receiver = otlpReceiver();
  beforeAll(async () => {
    receiver.server.listen(0, "127.0.0.1");
    await once(receiver.server, "listening");
  });
  afterAll(async () => {
    receiver.server.closeAllConnections();
    receiver.server.close();
  });
  return { ...receiver, port: () => (receiver.server.address() as AddressInfo).port };
}

/** Polls until `find` answers, for up to 10 s: the batch goes out after OTEL_BSP_SCHEDULE_DELAY. */
async function eventually<T>(find: () => T | undefined): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const found = find();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error("no such span arrived within 10 s");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("traces with OTEL_EXPORTER_OTLP_ENDPOINT", () => {
  const receiver = useOtlpReceiver();
  const server = useServer({
    env: () => ({
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${receiver.port()}`,
      OTEL_SERVICE_NAME: "keyward-under-test",
      OTEL_BSP_SCHEDULE_DELAY: "50",
    }),
  });

  const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
  const callerSpanId = "00f067aa0ba902b7";
  const traceparent = `00-${traceId}-${callerSpanId}-01`;

  it("exports a SERVER span per RPC in the caller's trace, with the store calls as its children", async () => {
    const admin = server.clients(server.admin);
    const { secret } = await admin.keys.issueKey({ name: "reader", scopes: ["orders:read"] });
    const { authorize } = server.clients();
    const answer = await authorize.authorize({ apiKey: secret }, { headers: { traceparent } });
    expect(answer.allowed).toBe(true);

    const authorizeSpan = await eventually(() =>
      receiver.spans.find(({ span }) => span.name === "keyward.v1.AuthorizeService/Authorize"),
    );
    expect(authorizeSpan.span).toMatchObject({ traceId, parentSpanId: callerSpanId, kind: SPAN_KIND_SERVER });
    expect(attributesOf(authorizeSpan.span.attributes)).toMatchObject({
      "rpc.system": "grpc",
      "rpc.service": "keyward.v1.AuthorizeService",
      "rpc.method": "Authorize",
      "rpc.grpc.status_code": 0,
    });
    expect(authorizeSpan.resource).toMatchObject({
      "service.name": "keyward-under-test",
      "service.version": "0.1.0",
    });

    // The key was not cached yet: the hot path's read is the Authorize span's child.
    const lookup = await eventually(() =>
      receiver.spans.find(({ span }) => span.parentSpanId === authorizeSpan.span.spanId),
    );
    expect(lookup.span).toMatchObject({ traceId, name: "store key_lookup", kind: SPAN_KIND_CLIENT });

    const issueSpan = await eventually(() =>
      receiver.spans.find(({ span }) => span.name === "keyward.v1.KeyService/IssueKey"),
    );
    expect(issueSpan.span.traceId).not.toBe(traceId); // no traceparent: a trace of its own
    expect(issueSpan.span.parentSpanId ?? "").toBe("");
    expect(attributesOf(issueSpan.span.attributes)).toMatchObject({
      "rpc.service": "keyward.v1.KeyService",
      "rpc.method": "IssueKey",
    });
    const storeSpans = await eventually(() => {
      const children = receiver.spans.filter(({ span }) => span.parentSpanId === issueSpan.span.spanId);
      return children.length > 0 ? children : undefined;
    });
    for (const { span } of storeSpans) {
      expect(span.traceId).toBe(issueSpan.span.traceId);
      expect(span.name).toMatch(/^store (query|key_lookup)$/);
      expect(span.kind).toBe(SPAN_KIND_CLIENT);
      expect(attributesOf(span.attributes)["db.system.name"]).toMatch(/^(sqlite|postgresql)$/);
    }
    // OTLP/HTTP with the JSON encoding, to the endpoint's v1/traces.
    expect(receiver.paths[0]).toBe("POST /v1/traces application/json");
    // Never a key, not even the admin's bearer.
    for (const body of receiver.bodies) {
      expect(body).not.toContain(secret);
      expect(body).not.toContain(server.admin);
    }
  });

  it("marks a failed call with its status code", async () => {
    const { keys } = server.clients("not-a-key");
    await expect(keys.issueKey({ name: "x" }, { headers: { traceparent } })).rejects.toThrow();
    const failed = await eventually(() =>
      receiver.spans.find(
        ({ span }) => span.name === "keyward.v1.KeyService/IssueKey" && span.traceId === traceId,
      ),
    );
    expect(failed.span.status?.code).toBe(2); // STATUS_CODE_ERROR
    expect(attributesOf(failed.span.attributes)["rpc.grpc.status_code"]).toBe(16); // UNAUTHENTICATED
  });

  it("gives Envoy's Check a SERVER span like every RPC", async () => {
    const envoy = server.own(envoyClient(server.grpcAddress));
    await envoy.check(envoyCheckRequest({ headers: { "x-api-key": "kw_not_a_key" } }));
    const check = await eventually(() =>
      receiver.spans.find(({ span }) => span.name === "envoy.service.auth.v3.Authorization/Check"),
    );
    expect(check.span.kind).toBe(SPAN_KIND_SERVER);
    expect(attributesOf(check.span.attributes)).toMatchObject({
      "rpc.system": "grpc",
      "rpc.service": "envoy.service.auth.v3.Authorization",
      "rpc.method": "Check",
    });
    expect(JSON.stringify(check.span)).not.toContain("kw_not_a_key");
  });

  it("gives forward auth a SERVER span in the gateway's trace", async () => {
    const gatewaySpanId = "b7ad6b7169203331";
    const response = await fetch(`${server.httpUrl}/authz/forward-auth`, {
      headers: {
        traceparent: `00-${traceId}-${gatewaySpanId}-01`,
        "x-forwarded-method": "GET",
        "x-forwarded-uri": "/v1/orders",
      },
    });
    expect(response.status).toBe(403); // no policy file names the route, and the default denies it
    const span = await eventually(() =>
      receiver.spans.find(({ span }) => span.name === "GET /authz/*" && span.parentSpanId === gatewaySpanId),
    );
    expect(span.span).toMatchObject({ traceId, kind: SPAN_KIND_SERVER });
    expect(attributesOf(span.span.attributes)).toMatchObject({
      "http.route": "/authz/*",
      "http.response.status_code": 403,
    });
  });
});

describe("traces with only OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", () => {
  const receiver = useOtlpReceiver();
  const server = useServer({
    env: () => ({
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `http://127.0.0.1:${receiver.port()}/collector/traces`,
      OTEL_BSP_SCHEDULE_DELAY: "50",
    }),
  });

  it("sends the spans to that URL as it is (no /v1/traces added)", async () => {
    const { authorize } = server.clients();
    await authorize.authorize({ apiKey: "" });
    await eventually(() =>
      receiver.spans.find(({ span }) => span.name === "keyward.v1.AuthorizeService/Authorize"),
    );
    expect(new Set(receiver.paths)).toEqual(new Set(["POST /collector/traces application/json"]));
  });
});

describe("the OTEL_* variables the SDK reads itself (README, Traces)", () => {
  // The SDK reads them from the process's environment, which an in-process server shares with the
  // test: set before the server starts (hooks run in order), restored after.
  const variables = {
    OTEL_TRACES_SAMPLER: "parentbased_always_off",
    OTEL_EXPORTER_OTLP_HEADERS: "x-collector-token=secret-token",
  };
  const saved = Object.fromEntries(Object.keys(variables).map((name) => [name, process.env[name]]));
  beforeAll(() => Object.assign(process.env, variables));
  afterAll(() => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });
  const receiver = useOtlpReceiver();
  const server = useServer({
    env: () => ({
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${receiver.port()}`,
      OTEL_BSP_SCHEDULE_DELAY: "50",
    }),
  });

  it("samples as OTEL_TRACES_SAMPLER says and sends OTEL_EXPORTER_OTLP_HEADERS", async () => {
    const { authorize } = server.clients();
    // parentbased_always_off: a call without a sampled parent is not traced, one with it is.
    await authorize.authorize({ apiKey: "unparented" });
    const traceId = "0af7651916cd43dd8448eb211c80319c";
    await authorize.authorize(
      { apiKey: "parented" },
      { headers: { traceparent: `00-${traceId}-b7ad6b7169203331-01` } },
    );
    await eventually(() => receiver.spans.find(({ span }) => span.traceId === traceId));
    // Spans are exported in the order they end, so the first call's would have come first.
    expect(receiver.spans.every(({ span }) => span.traceId === traceId)).toBe(true);
    expect(new Set(receiver.tokens)).toEqual(new Set(["secret-token"]));
  });
});

describe("traces without OTEL_EXPORTER_OTLP_ENDPOINT", () => {
  it("start nothing, and the handlers served are the very same ones", async () => {
    const loaded = loadConfig({});
    if (!loaded.ok) throw new Error(loaded.error);
    expect(loaded.config.tracing).toBeUndefined();
    const tracing = await startTracing(
      loaded.config.tracing,
      { version: "0.1.0", dbSystem: "sqlite" },
      createLogger("error", () => undefined),
    );
    expect(tracing).toBeUndefined();
    const services = [healthService(["keyward.v1.AuthorizeService"]).served];
    expect(tracedServices(tracing, services)).toBe(services);
    const forwardAuth = () => undefined;
    expect(tracedForwardAuth(tracing, forwardAuth)).toBe(forwardAuth);
  });

  // Keyward's own imports only: @opentelemetry/api still loads through prom-client (bench scenario 12
  // observes a running server's modules).
  it("import no OpenTelemetry package themselves: only the files a dynamic import reaches name one", () => {
    const files = readdirSync("src", { recursive: true, encoding: "utf8" }).filter((file) =>
      file.endsWith(".ts"),
    );
    const loadsOtel = (text: string) =>
      /^import (?!type )[^;]*from "(@opentelemetry\/[^"]+|\.\/(otel-tracing|traced-calls)\.js)";/m.test(text);
    const loading = files.filter((file) => loadsOtel(readFileSync(`src/${file}`, "utf8"))).sort();
    expect(loading).toEqual(["tracing/otel-tracing.ts", "tracing/traced-calls.ts"]);
    expect(readFileSync("src/tracing/tracing.ts", "utf8")).toContain('await import("./otel-tracing.js")');
  });
});
