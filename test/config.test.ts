import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { type Config, loadConfig } from "../src/config.js";
import { DEFAULT_TIERS } from "../src/domain/tiers.js";

function configOf(env: Record<string, string | undefined>): Config {
  const result = loadConfig(env);
  if (!result.ok) throw new Error(`expected a config, got: ${result.error}`);
  return result.config;
}

function errorOf(env: Record<string, string | undefined>): string {
  const result = loadConfig(env);
  if (result.ok) throw new Error("expected an error, got a config");
  return result.error;
}

describe("loadConfig", () => {
  it("uses the defaults for an empty environment", () => {
    const config = configOf({});
    expect(config).toEqual({
      listen: "0.0.0.0:50051",
      httpListen: "0.0.0.0:8080",
      metricsListen: undefined,
      database: "sqlite:./data/keyward.db",
      databasePool: 10,
      cache: { maxKeys: 100_000, ttlMs: 30_000, maxMissing: 10_000, missingTtlMs: 5_000 },
      staleBoundMs: 1_000,
      redisUrl: undefined,
      replicas: 1,
      drainTimeoutMs: 10_000,
      usageFlushMs: 1_000,
      logLevel: "info",
      logFormat: "json",
      decisionLogSample: 0,
      workers: availableParallelism(),
      envoy: {
        policyPath: undefined,
        policyReloadMs: 2_000,
        defaultRoute: "deny",
        credentialHeaders: ["x-api-key", "authorization"],
        headerPrefix: "x-keyward-",
        removeCredential: true,
        trustedProxies: 0,
      },
      messageLimits: { maxBytes: 64 * 1024, maxCheckBytes: 1024 * 1024 },
      tiers: DEFAULT_TIERS,
      tiersPath: undefined,
      tracing: undefined,
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it("treats blank variables as unset and trims values", () => {
    expect(configOf({ KEYWARD_LISTEN: "", KEYWARD_CACHE_TTL: "   " })).toEqual(configOf({}));
    expect(configOf({ KEYWARD_LOG_LEVEL: " debug " }).logLevel).toBe("debug");
  });

  it("ignores variables that are not its own", () => {
    expect(configOf({ PATH: "/bin", LISTEN: "nonsense" })).toEqual(configOf({}));
  });

  it.each([
    ["KEYWARD_LISTEN", "nonsense"],
    ["KEYWARD_LISTEN", "0.0.0.0:70000"],
    ["KEYWARD_LISTEN", "0.0.0.0:"],
    ["KEYWARD_HTTP_LISTEN", "localhost"],
    ["KEYWARD_METRICS_LISTEN", "9464"],
    ["KEYWARD_USAGE_FLUSH", "0s"], // a flush every 0 ms would spin
    ["KEYWARD_DATABASE", "postgres://"],
    ["KEYWARD_DATABASE", "mysql://db/keyward"],
    ["KEYWARD_DATABASE", "sqlite:"],
    ["KEYWARD_DATABASE_POOL", "0"],
    ["KEYWARD_DATABASE_POOL", "101"],
    ["KEYWARD_CACHE_SIZE", "0"],
    ["KEYWARD_CACHE_SIZE", "abc"],
    ["KEYWARD_CACHE_SIZE", "-5"],
    ["KEYWARD_CACHE_SIZE", "1.5"],
    ["KEYWARD_NEGATIVE_CACHE_SIZE", "0"],
    ["KEYWARD_CACHE_TTL", "10"], // no unit
    ["KEYWARD_CACHE_TTL", "1d"],
    ["KEYWARD_CACHE_TTL", "-1s"],
    ["KEYWARD_NEGATIVE_CACHE_TTL", "5 s"],
    ["KEYWARD_CACHE_TTL", "0s"], // lru-cache would read 0 as "never expires"
    ["KEYWARD_STALE_BOUND", "0s"], // no entry could ever be trusted: say `1ms` for that
    ["KEYWARD_STALE_BOUND", "soon"],
    ["KEYWARD_REDIS_URL", "127.0.0.1:6379"], // no scheme
    ["KEYWARD_REDIS_URL", "redis://"],
    ["KEYWARD_REPLICAS", "0"],
    ["KEYWARD_REPLICAS", "1001"],
    ["KEYWARD_NEGATIVE_CACHE_TTL", "0ms"],
    ["KEYWARD_DRAIN_TIMEOUT", "soon"],
    // Beyond Node's timer range a delay silently becomes 1 ms: every duration is bounded.
    ["KEYWARD_DRAIN_TIMEOUT", "2147484s"],
    ["KEYWARD_DRAIN_TIMEOUT", "25h"],
    ["KEYWARD_CACHE_TTL", "99999999999999999999h"],
    ["KEYWARD_POLICY_RELOAD", "1441m"],
    ["KEYWARD_LOG_LEVEL", "loud"],
    ["KEYWARD_LOG_LEVEL", "INFO"],
    ["KEYWARD_LOG_FORMAT", "text"],
    ["KEYWARD_DECISION_LOG_SAMPLE", "1.5"],
    ["KEYWARD_DECISION_LOG_SAMPLE", "-0.1"],
    ["KEYWARD_DECISION_LOG_SAMPLE", "10%"],
    ["KEYWARD_DEFAULT_ROUTE_POLICY", "allow"],
    ["KEYWARD_CREDENTIAL_HEADERS", "x-api-key, bad header"],
    ["KEYWARD_ENVOY_HEADER_PREFIX", "x keyward"],
    ["KEYWARD_ENVOY_REMOVE_CREDENTIAL", "yes"],
    ["KEYWARD_POLICY_RELOAD", "0s"],
    ["KEYWARD_WORKERS", "0"],
    ["KEYWARD_WORKERS", "65"],
    ["KEYWARD_WORKERS", "many"],
    ["KEYWARD_MAX_MESSAGE_BYTES", "1023"], // below 1 KiB an ordinary request no longer fits
    ["KEYWARD_MAX_MESSAGE_BYTES", "65MiB"],
    ["KEYWARD_MAX_MESSAGE_BYTES", "64KB"],
    ["KEYWARD_MAX_MESSAGE_BYTES", "1.5MiB"],
    ["KEYWARD_MAX_CHECK_MESSAGE_BYTES", "0"],
    ["KEYWARD_MAX_CHECK_MESSAGE_BYTES", "1 MiB"],
    ["KEYWARD_TRUSTED_PROXIES", "11"],
    ["KEYWARD_TRUSTED_PROXIES", "-1"],
    ["KEYWARD_TRUSTED_PROXIES", "one"],
    ["OTEL_EXPORTER_OTLP_ENDPOINT", "otel-collector:4318"], // no scheme: read as one named otel-collector
    ["OTEL_EXPORTER_OTLP_ENDPOINT", "grpc://otel-collector:4317"],
    ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "otel-collector:4318/v1/traces"],
    ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://otel-collector:4318/v1/traces?x=1"],
  ])("rejects %s=%s, naming the variable and the value", (name, value) => {
    const error = errorOf({ [name]: value });
    expect(error).toContain(`${name}=`);
    expect(error).toContain(JSON.stringify(value));
  });

  it("accepts a zero drain timeout (cut in-flight calls at once)", () => {
    expect(configOf({ KEYWARD_DRAIN_TIMEOUT: "0s" }).drainTimeoutMs).toBe(0);
  });

  it("runs one worker per CPU by default, or as many as KEYWARD_WORKERS says", () => {
    expect(configOf({ KEYWARD_WORKERS: "3" }).workers).toBe(3);
    expect(configOf({ KEYWARD_WORKERS: "auto" }).workers).toBe(availableParallelism());
  });

  it("reads the Envoy settings", () => {
    const config = configOf({
      KEYWARD_POLICY: "/etc/keyward/policy.yaml",
      KEYWARD_DEFAULT_ROUTE_POLICY: "allow-authenticated",
      KEYWARD_CREDENTIAL_HEADERS: "X-Custom-Key, Authorization",
      KEYWARD_ENVOY_HEADER_PREFIX: "X-Auth-",
      KEYWARD_ENVOY_REMOVE_CREDENTIAL: "false",
      KEYWARD_TRUSTED_PROXIES: "2",
    });
    expect(config.envoy).toMatchObject({
      policyPath: "/etc/keyward/policy.yaml",
      defaultRoute: "allow-authenticated",
      credentialHeaders: ["x-custom-key", "authorization"],
      headerPrefix: "x-auth-",
      removeCredential: false,
      trustedProxies: 2,
    });
  });

  it.each([
    ["1024", 1024],
    ["64KiB", 65_536],
    ["2MiB", 2_097_152],
    ["64MiB", 67_108_864],
  ])("reads the message size %s as %i bytes", (value, bytes) => {
    const config = configOf({ KEYWARD_MAX_MESSAGE_BYTES: value, KEYWARD_MAX_CHECK_MESSAGE_BYTES: value });
    expect(config.messageLimits).toEqual({ maxBytes: bytes, maxCheckBytes: bytes });
  });

  it("turns traces on with OTEL_EXPORTER_OTLP_ENDPOINT, sending to its v1/traces", () => {
    expect(configOf({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://otel-collector:4318/" }).tracing).toEqual({
      tracesUrl: "http://otel-collector:4318/v1/traces",
      serviceName: "keyward",
      exportDelayMs: 5_000,
    });
    const named = configOf({
      OTEL_EXPORTER_OTLP_ENDPOINT: "https://collector.example/otlp",
      OTEL_SERVICE_NAME: "keyward-eu",
      OTEL_BSP_SCHEDULE_DELAY: "100",
    });
    expect(named.tracing).toEqual({
      tracesUrl: "https://collector.example/otlp/v1/traces",
      serviceName: "keyward-eu",
      exportDelayMs: 100,
    });
    // The signal's own endpoint is used as it is, and wins over the base one (the OTLP exporter spec).
    expect(
      configOf({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://collector.example:4318/custom/traces" }).tracing
        ?.tracesUrl,
    ).toBe("http://collector.example:4318/custom/traces");
    expect(
      configOf({
        OTEL_EXPORTER_OTLP_ENDPOINT: "http://base.example:4318",
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "https://traces.example/v1/traces",
      }).tracing?.tracesUrl,
    ).toBe("https://traces.example/v1/traces");
    // OTEL_SDK_DISABLED=true wins over both endpoints (and nothing of them is checked).
    for (const disabled of ["true", "TRUE"])
      expect(
        configOf({
          OTEL_SDK_DISABLED: disabled,
          OTEL_EXPORTER_OTLP_ENDPOINT: "not a url",
          OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://traces.example/v1/traces",
        }).tracing,
      ).toBeUndefined();
    expect(
      configOf({ OTEL_SDK_DISABLED: "false", OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318" }).tracing,
    ).toBeDefined();
    // The delay is read only with traces on, in the OTel spec's unit (milliseconds).
    expect(configOf({ OTEL_BSP_SCHEDULE_DELAY: "5s" }).tracing).toBeUndefined();
    const error = errorOf({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_BSP_SCHEDULE_DELAY: "5s" });
    expect(error).toContain('OTEL_BSP_SCHEDULE_DELAY="5s"');
  });

  it("turns the HTTP listener off with KEYWARD_HTTP_LISTEN=off", () => {
    expect(configOf({ KEYWARD_HTTP_LISTEN: "off" }).httpListen).toBeUndefined();
  });

  it.each([
    ["500ms", 500],
    ["30s", 30_000],
    ["5m", 300_000],
    ["1h", 3_600_000],
    ["24h", 86_400_000],
  ])("parses the duration %s as %i ms", (value, ms) => {
    const config = configOf({
      KEYWARD_CACHE_TTL: value,
      KEYWARD_NEGATIVE_CACHE_TTL: value,
      KEYWARD_DRAIN_TIMEOUT: value,
      KEYWARD_USAGE_FLUSH: value,
    });
    expect(config.usageFlushMs).toBe(ms);
    expect(config.cache.ttlMs).toBe(ms);
    expect(config.cache.missingTtlMs).toBe(ms);
    expect(config.drainTimeoutMs).toBe(ms);
  });

  it("reads a port without a host as all interfaces", () => {
    expect(configOf({ KEYWARD_LISTEN: ":50051" }).listen).toBe("0.0.0.0:50051");
    expect(configOf({ KEYWARD_HTTP_LISTEN: ":9090" }).httpListen).toBe("0.0.0.0:9090");
  });

  it.each(["127.0.0.1:1", "localhost:65535", "[::]:50051", "[::1]:8080", "keyward.internal:0"])(
    "accepts the address %s as given",
    (address) => {
      expect(configOf({ KEYWARD_LISTEN: address }).listen).toBe(address);
    },
  );

  it("reads sizes, database and log level", () => {
    const config = configOf({
      KEYWARD_CACHE_SIZE: "42",
      KEYWARD_NEGATIVE_CACHE_SIZE: "7",
      KEYWARD_DATABASE: "sqlite::memory:",
      KEYWARD_LOG_LEVEL: "warn",
    });
    expect(config.cache.maxKeys).toBe(42);
    expect(config.cache.maxMissing).toBe(7);
    expect(config.database).toBe("sqlite::memory:");
    expect(config.logLevel).toBe("warn");
  });

  it.each([
    "postgres://keyward@db.internal:5432/keyward",
    "postgresql://keyward:secret@127.0.0.1/keyward?sslmode=require",
  ])("accepts the PostgreSQL URL %s, with a pool size", (url) => {
    const config = configOf({ KEYWARD_DATABASE: url, KEYWARD_DATABASE_POOL: "25" });
    expect(config.database).toBe(url);
    expect(config.databasePool).toBe(25);
  });

  it.each(["redis://127.0.0.1:6379", "rediss://default:secret@cache.internal:6380/2"])(
    "accepts the Redis URL %s, with a replica count",
    (url) => {
      const config = configOf({ KEYWARD_REDIS_URL: url, KEYWARD_REPLICAS: "3" });
      expect(config.redisUrl).toBe(url);
      expect(config.replicas).toBe(3);
    },
  );

  it("never shows the password of a Redis URL it refuses", () => {
    const error = errorOf({ KEYWARD_REDIS_URL: "redis://:hunter2@" });
    expect(error).toContain("KEYWARD_REDIS_URL=");
    expect(error).not.toContain("hunter2");
  });

  it("never shows the password of a PostgreSQL URL it refuses", () => {
    const error = errorOf({ KEYWARD_DATABASE: "postgres://keyward:hunter2@/" });
    expect(error).toContain("KEYWARD_DATABASE=");
    expect(error).not.toContain("hunter2");
  });
});

describe("KEYWARD_TIERS", () => {
  const dir = mkdtempSync(join(tmpdir(), "keyward-tiers-"));
  const fileWith = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("has the four default tiers", () => {
    expect([...DEFAULT_TIERS]).toEqual([
      ["free", { limit: 10, windowMs: 60_000 }],
      ["basic", { limit: 100, windowMs: 60_000 }],
      ["pro", { limit: 1_000, windowMs: 60_000 }],
      ["enterprise", { limit: 10_000, windowMs: 60_000 }],
    ]);
  });

  it("replaces the table with the file's tiers", () => {
    const path = fileWith(
      "ok.yaml",
      "tiers:\n  hobby: { limit: 5, window: 1s }\n  team:\n    limit: 500\n    window: 1h\n",
    );
    expect([...configOf({ KEYWARD_TIERS: path }).tiers]).toEqual([
      ["hobby", { limit: 5, windowMs: 1_000 }],
      ["team", { limit: 500, windowMs: 3_600_000 }],
    ]);
  });

  it.each([
    ["a missing file", undefined, "cannot read"],
    ["no tiers map", "free: 1\n", "tiers:"],
    ["not YAML", "tiers: [\n", "not YAML"],
    ["a zero limit", "tiers:\n  free: { limit: 0, window: 1m }\n", "tier free: limit"],
    ["a window over 24h", "tiers:\n  free: { limit: 1, window: 25h }\n", "tier free: window"],
    ["a window under 1s", "tiers:\n  free: { limit: 1, window: 500ms }\n", "tier free: window"],
    ["a bad name", "tiers:\n  Free Tier: { limit: 1, window: 1m }\n", "tier name"],
  ])("refuses %s, naming the variable", (label, text, expected) => {
    const path = text === undefined ? join(dir, "missing.yaml") : fileWith(`${label}.yaml`, text);
    const error = errorOf({ KEYWARD_TIERS: path });
    expect(error).toMatch(/^KEYWARD_TIERS=/);
    expect(error).toContain(expected);
  });
});
