import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { isPostgresUrl, isRedisUrl, redactedUrl, sqlitePath } from "./database-url.js";
import type { DefaultRoute } from "./domain/check-request.js";
import { MAX_TRUSTED_PROXIES } from "./domain/client-address.js";
import { parseDurationMs } from "./domain/duration-text.js";
import { DEFAULT_TIERS, parseTiers, type TierTable } from "./domain/tiers.js";
import type { LogFormat, LogLevel } from "./log.js";
import { readTlsFiles, TLS_VARIABLE, type TlsFiles } from "./transport/tls-files.js";

/** Everything Keyward reads from its environment, validated once at start-up. */
export interface Config {
  /** gRPC listener (grpc-js), `host:port`. */
  readonly listen: string;
  /** Connect/gRPC-Web/JSON listener, `host:port`; undefined when turned off. */
  readonly httpListen: string | undefined;
  /** `sqlite:<path>` or `postgres://…` (store/database.ts). */
  readonly database: string;
  /**
   * `GET /metrics` (Prometheus) on a listener of its own, `host:port`, and not on the HTTP listener;
   * undefined: on the HTTP listener.
   */
  readonly metricsListen: string | undefined;
  /** Connections in the PostgreSQL pool (unused with SQLite, which has one writer). */
  readonly databasePool: number;
  readonly cache: {
    readonly maxKeys: number;
    readonly ttlMs: number;
    readonly maxMissing: number;
    readonly missingTtlMs: number;
  };
  /**
   * PostgreSQL: how old a cached decision may be while this replica cannot hear other replicas'
   * changes (its LISTEN connection is down); see cache/replica-listener.ts.
   */
  readonly staleBoundMs: number;
  /**
   * Redis holding every replica's rate windows (`redis://…`), for limits that hold for a key across
   * replicas; undefined: each replica counts on its own (store/redis-rate-windows.ts).
   */
  readonly redisUrl: string | undefined;
  /**
   * Replicas serving one store: with Redis, the divisor of a key's rate limit while Redis cannot be
   * reached (each replica then allows limit ÷ replicas), and of the slices a replica reserves.
   */
  readonly replicas: number;
  /** How long in-flight calls may take to finish on SIGTERM before they are cut. */
  readonly drainTimeoutMs: number;
  /** How often usage counts are added to the store (write-behind; a crash loses at most this much). */
  readonly usageFlushMs: number;
  /** Server processes sharing the ports (node:cluster); 1 runs in this process. */
  readonly workers: number;
  /** Envoy ext_authz (Authorization/Check). */
  readonly envoy: {
    /** Route policy file (YAML); undefined for none. */
    readonly policyPath: string | undefined;
    readonly policyReloadMs: number;
    readonly defaultRoute: DefaultRoute;
    /** Lower-case header names that may carry the key, in order. */
    readonly credentialHeaders: readonly string[];
    /** Prefix of the identity headers added for the upstream, and of the client headers removed. */
    readonly headerPrefix: string;
    /** Remove the credential header before the request goes upstream. */
    readonly removeCredential: boolean;
    /** Proxies in front of Envoy whose x-forwarded-for entries are believed (see domain/client-address.ts). */
    readonly trustedProxies: number;
  };
  readonly logLevel: LogLevel;
  /** JSON lines, or pino-pretty's for a local run (KEYWARD_LOG_FORMAT). */
  readonly logFormat: LogFormat;
  /** The share of decisions logged, one `decision` line each, from 0 (none) to 1 (every one). */
  readonly decisionLogSample: number;
  /** TLS on both listeners; undefined serves plaintext. */
  readonly tls: (TlsFiles & { readonly reloadMs: number }) | undefined;
  /** Largest request message each listener takes; beyond it RESOURCE_EXHAUSTED (HTTP 413) before it is read. */
  readonly messageLimits: {
    /** Keyward's own RPCs. */
    readonly maxBytes: number;
    /** Envoy Check, whose requests carry the whole header set and possibly a buffered body. */
    readonly maxCheckBytes: number;
  };
  /** The rate-limit tiers keys may name: KEYWARD_TIERS' file, or the defaults (domain/tiers.ts). */
  readonly tiers: TierTable;
  /** KEYWARD_TIERS' file, read again on SIGHUP; undefined for the defaults. */
  readonly tiersPath: string | undefined;
  /** OpenTelemetry spans over OTLP/HTTP (tracing/tracing.ts); undefined: off, and nothing of the OpenTelemetry SDK loaded. */
  readonly tracing: TracingConfig | undefined;
}

/** Where and how spans are exported, from the standard OTEL_* variables. */
export interface TracingConfig {
  /**
   * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as it is, or else OTEL_EXPORTER_OTLP_ENDPOINT with the signal's
   * path, `v1/traces`, added: the OTLP exporter spec's rule for the two.
   */
  readonly tracesUrl: string;
  /** The resource's service.name (OTEL_SERVICE_NAME). */
  readonly serviceName: string;
  /** How long finished spans wait to be sent in a batch (OTEL_BSP_SCHEDULE_DELAY, milliseconds). */
  readonly exportDelayMs: number;
}

/** The variables Keyward reads, with their defaults (documented in the README's configuration table). */
export const DEFAULTS = {
  KEYWARD_LISTEN: "0.0.0.0:50051",
  KEYWARD_HTTP_LISTEN: "0.0.0.0:8080",
  KEYWARD_METRICS_LISTEN: "",
  KEYWARD_DATABASE: "sqlite:./data/keyward.db",
  KEYWARD_DATABASE_POOL: "10",
  KEYWARD_CACHE_SIZE: "100000",
  KEYWARD_CACHE_TTL: "30s",
  KEYWARD_NEGATIVE_CACHE_SIZE: "10000",
  KEYWARD_NEGATIVE_CACHE_TTL: "5s",
  KEYWARD_STALE_BOUND: "1s",
  KEYWARD_REDIS_URL: "",
  KEYWARD_REPLICAS: "1",
  KEYWARD_DRAIN_TIMEOUT: "10s",
  KEYWARD_USAGE_FLUSH: "1s",
  KEYWARD_LOG_LEVEL: "info",
  KEYWARD_LOG_FORMAT: "json",
  KEYWARD_DECISION_LOG_SAMPLE: "0",
  KEYWARD_WORKERS: "auto",
  KEYWARD_POLICY: "",
  KEYWARD_POLICY_RELOAD: "2s",
  KEYWARD_DEFAULT_ROUTE_POLICY: "deny",
  KEYWARD_CREDENTIAL_HEADERS: "x-api-key,authorization",
  KEYWARD_ENVOY_HEADER_PREFIX: "x-keyward-",
  KEYWARD_ENVOY_REMOVE_CREDENTIAL: "true",
  KEYWARD_TRUSTED_PROXIES: "0",
  KEYWARD_TLS_CERT: "",
  KEYWARD_TLS_KEY: "",
  KEYWARD_TLS_CLIENT_CA: "",
  KEYWARD_TLS_RELOAD: "5s",
  KEYWARD_MAX_MESSAGE_BYTES: "64KiB",
  KEYWARD_MAX_CHECK_MESSAGE_BYTES: "1MiB",
  KEYWARD_TIERS: "",
  OTEL_EXPORTER_OTLP_ENDPOINT: "",
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "",
  OTEL_SDK_DISABLED: "false",
  OTEL_SERVICE_NAME: "keyward",
  OTEL_BSP_SCHEDULE_DELAY: "5000",
} as const;

type Variable = keyof typeof DEFAULTS;

/** Builds the Config, or names the first variable with an invalid value. */
export function loadConfig(
  env: Readonly<Record<string, string | undefined>>,
): { ok: true; config: Config } | { ok: false; error: string } {
  const read = (name: Variable) => {
    const value = env[name]?.trim();
    return value === undefined || value === "" ? DEFAULTS[name] : value;
  };
  try {
    const config: Config = {
      listen: address("KEYWARD_LISTEN", read("KEYWARD_LISTEN")),
      httpListen:
        read("KEYWARD_HTTP_LISTEN") === "off"
          ? undefined
          : address("KEYWARD_HTTP_LISTEN", read("KEYWARD_HTTP_LISTEN")),
      metricsListen:
        read("KEYWARD_METRICS_LISTEN") === ""
          ? undefined
          : address("KEYWARD_METRICS_LISTEN", read("KEYWARD_METRICS_LISTEN")),
      database: database("KEYWARD_DATABASE", read("KEYWARD_DATABASE")),
      databasePool: poolSize("KEYWARD_DATABASE_POOL", read("KEYWARD_DATABASE_POOL")),
      cache: {
        maxKeys: count("KEYWARD_CACHE_SIZE", read("KEYWARD_CACHE_SIZE")),
        ttlMs: duration("KEYWARD_CACHE_TTL", read("KEYWARD_CACHE_TTL"), 1),
        maxMissing: count("KEYWARD_NEGATIVE_CACHE_SIZE", read("KEYWARD_NEGATIVE_CACHE_SIZE")),
        missingTtlMs: duration("KEYWARD_NEGATIVE_CACHE_TTL", read("KEYWARD_NEGATIVE_CACHE_TTL"), 1),
      },
      staleBoundMs: duration("KEYWARD_STALE_BOUND", read("KEYWARD_STALE_BOUND"), 1),
      redisUrl:
        read("KEYWARD_REDIS_URL") === "" ? undefined : redis("KEYWARD_REDIS_URL", read("KEYWARD_REDIS_URL")),
      replicas: replicaCount("KEYWARD_REPLICAS", read("KEYWARD_REPLICAS")),
      drainTimeoutMs: duration("KEYWARD_DRAIN_TIMEOUT", read("KEYWARD_DRAIN_TIMEOUT")),
      usageFlushMs: duration("KEYWARD_USAGE_FLUSH", read("KEYWARD_USAGE_FLUSH"), 1),
      logLevel: logLevel("KEYWARD_LOG_LEVEL", read("KEYWARD_LOG_LEVEL")),
      logFormat: oneOf("KEYWARD_LOG_FORMAT", read("KEYWARD_LOG_FORMAT"), ["json", "pretty"]),
      decisionLogSample: share("KEYWARD_DECISION_LOG_SAMPLE", read("KEYWARD_DECISION_LOG_SAMPLE")),
      workers: workerCount("KEYWARD_WORKERS", read("KEYWARD_WORKERS")),
      envoy: {
        policyPath: read("KEYWARD_POLICY") === "" ? undefined : read("KEYWARD_POLICY"),
        policyReloadMs: duration("KEYWARD_POLICY_RELOAD", read("KEYWARD_POLICY_RELOAD"), 1),
        defaultRoute: oneOf("KEYWARD_DEFAULT_ROUTE_POLICY", read("KEYWARD_DEFAULT_ROUTE_POLICY"), [
          "deny",
          "allow-authenticated",
        ]),
        credentialHeaders: headerNames("KEYWARD_CREDENTIAL_HEADERS", read("KEYWARD_CREDENTIAL_HEADERS")),
        headerPrefix: headerPrefix("KEYWARD_ENVOY_HEADER_PREFIX", read("KEYWARD_ENVOY_HEADER_PREFIX")),
        removeCredential:
          oneOf("KEYWARD_ENVOY_REMOVE_CREDENTIAL", read("KEYWARD_ENVOY_REMOVE_CREDENTIAL"), [
            "true",
            "false",
          ]) === "true",
        trustedProxies: trustedProxies("KEYWARD_TRUSTED_PROXIES", read("KEYWARD_TRUSTED_PROXIES")),
      },
      tls: tls(read),
      messageLimits: {
        maxBytes: byteSize("KEYWARD_MAX_MESSAGE_BYTES", read("KEYWARD_MAX_MESSAGE_BYTES")),
        maxCheckBytes: byteSize("KEYWARD_MAX_CHECK_MESSAGE_BYTES", read("KEYWARD_MAX_CHECK_MESSAGE_BYTES")),
      },
      tiers: tiers("KEYWARD_TIERS", read("KEYWARD_TIERS")),
      tiersPath: read("KEYWARD_TIERS") === "" ? undefined : read("KEYWARD_TIERS"),
      tracing: tracing(read),
    };
    return { ok: true, config: Object.freeze(config) };
  } catch (error) {
    if (error instanceof InvalidVariable) return { ok: false, error: error.message };
    throw error;
  }
}

class InvalidVariable extends Error {}

// The files are read here, not only when the listeners start, so that a missing or broken one stops
// start-up with exit 2 naming its variable, before a cluster primary forks workers that would fail.
function tls(read: (name: Variable) => string): Config["tls"] {
  const [certPath, keyPath, clientCa] = [
    read("KEYWARD_TLS_CERT"),
    read("KEYWARD_TLS_KEY"),
    read("KEYWARD_TLS_CLIENT_CA"),
  ];
  if (certPath === "" && keyPath === "") {
    if (clientCa !== "")
      invalid("KEYWARD_TLS_CLIENT_CA", clientCa, "to be set only with KEYWARD_TLS_CERT and KEYWARD_TLS_KEY");
    return undefined;
  }
  if (certPath === "")
    invalid("KEYWARD_TLS_CERT", "", "a PEM certificate file, set together with KEYWARD_TLS_KEY");
  if (keyPath === "")
    invalid("KEYWARD_TLS_KEY", "", "a PEM private key file, set together with KEYWARD_TLS_CERT");
  const files: TlsFiles = { certPath, keyPath, clientCaPath: clientCa === "" ? undefined : clientCa };
  const checked = readTlsFiles(files);
  if ("error" in checked) {
    const name = TLS_VARIABLE[checked.file];
    throw new InvalidVariable(`${name}=${JSON.stringify(read(name))} is invalid: ${checked.error}`);
  }
  return { ...files, reloadMs: duration("KEYWARD_TLS_RELOAD", read("KEYWARD_TLS_RELOAD"), 1) };
}

// Read at start-up, like the TLS files: a broken file exits 2 naming the variable. SIGHUP reads it
// again (keyward.ts), and a file that removes a tier keys still name is refused then as here.
function tiers(name: Variable, path: string): TierTable {
  if (path === "") return DEFAULT_TIERS;
  const read = readTierFile(path);
  if ("error" in read) throw new InvalidVariable(`${name}=${JSON.stringify(path)} is invalid: ${read.error}`);
  return read.tiers;
}

/** Reads and parses a tier file (KEYWARD_TIERS); the error says what is wrong with it. */
export function readTierFile(path: string): { tiers: TierTable } | { error: string } {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    return { error: `cannot read the file (${(error as NodeJS.ErrnoException).code ?? "unreadable"})` };
  }
  return parseTiers(text);
}

// Only the variables whose values Keyward needs at start-up; the SDK itself reads a few more of the
// OTEL_* set (the sampler, the exporter's headers) from the environment, as in any OpenTelemetry SDK.
function tracing(read: (name: Variable) => string): Config["tracing"] {
  // OTEL_SDK_DISABLED=true turns traces off whatever else is set (the OTel environment spec; its
  // boolean is case-insensitive "true", anything else false).
  if (read("OTEL_SDK_DISABLED").toLowerCase() === "true") return undefined;
  const tracesEndpoint = read("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
  const endpoint = read("OTEL_EXPORTER_OTLP_ENDPOINT");
  if (tracesEndpoint === "" && endpoint === "") return undefined;
  if (tracesEndpoint !== "")
    checkOtlpUrl(
      "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
      tracesEndpoint,
      "e.g. http://otel-collector:4318/v1/traces",
    );
  else checkOtlpUrl("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint, "a base URL, e.g. http://otel-collector:4318");
  const delay = read("OTEL_BSP_SCHEDULE_DELAY");
  const exportDelayMs = /^\d+$/.test(delay) ? Number(delay) : Number.NaN;
  if (!(exportDelayMs >= 1 && exportDelayMs <= MAX_DURATION_MS)) {
    invalid("OTEL_BSP_SCHEDULE_DELAY", delay, "milliseconds, a whole number from 1 to 86400000");
  }
  return {
    tracesUrl: tracesEndpoint !== "" ? tracesEndpoint : `${endpoint.replace(/\/+$/, "")}/v1/traces`,
    serviceName: read("OTEL_SERVICE_NAME"),
    exportDelayMs,
  };
}

/** An OTLP/HTTP endpoint: an http:// or https:// URL without a query. */
function checkOtlpUrl(name: Variable, value: string, example: string): void {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== "http:" && url.protocol !== "https:") || url.search !== "") {
    invalid(name, redactedUrl(value), `an http:// or https:// URL without a query, ${example}`);
  }
}

function invalid(name: Variable, value: string, expected: string): never {
  throw new InvalidVariable(`${name}=${JSON.stringify(value)} is invalid: expected ${expected}`);
}

function address(name: Variable, value: string): string {
  const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]*):(\d{1,5})$/.exec(value);
  const port = Number(match?.[2]);
  if (!match || port > 65535) invalid(name, value, "host:port, e.g. 0.0.0.0:50051");
  return match[1] === "" ? `0.0.0.0:${port}` : value;
}

function database(name: Variable, value: string): string {
  if (sqlitePath(value) === undefined && !isPostgresUrl(value)) {
    // A URL's user information may hold a password: never shown.
    const shown = value.replace(/\/\/[^@/]*@/, "//***@");
    return invalid(
      name,
      shown,
      "sqlite:<path> (e.g. sqlite:./data/keyward.db) or postgres://user@host:port/db",
    );
  }
  return value;
}

function redis(name: Variable, value: string): string {
  if (!isRedisUrl(value))
    invalid(name, redactedUrl(value), "redis://[user:password@]host:port[/db] or rediss://… for TLS");
  return value;
}

const MAX_REPLICAS = 1000;

function replicaCount(name: Variable, value: string): number {
  const n = count(name, value);
  if (n > MAX_REPLICAS) return invalid(name, value, `a whole number from 1 to ${MAX_REPLICAS}`);
  return n;
}

const MAX_POOL = 100;

function poolSize(name: Variable, value: string): number {
  const n = count(name, value);
  if (n > MAX_POOL) return invalid(name, value, `a whole number from 1 to ${MAX_POOL}`);
  return n;
}

function count(name: Variable, value: string): number {
  const n = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1) invalid(name, value, "a whole number ≥ 1");
  return n;
}

function trustedProxies(name: Variable, value: string): number {
  const n = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!(n <= MAX_TRUSTED_PROXIES)) invalid(name, value, `a whole number from 0 to ${MAX_TRUSTED_PROXIES}`);
  return n;
}

/**
 * The longest duration any variable takes. Node's timers hold at most 2^31-1 ms (~24.8 days) and
 * run a longer delay after 1 ms instead; a day is far beyond any sensible TTL, interval or drain.
 */
export const MAX_DURATION_MS = 86_400_000;

// Cache TTLs must be positive: lru-cache reads a TTL of 0 as "never expires".
function duration(name: Variable, value: string, minMs = 0): number {
  const ms = parseDurationMs(value) ?? Number.NaN;
  if (!(ms >= minMs && ms <= MAX_DURATION_MS)) {
    const least = minMs > 0 ? "above zero" : "from 0";
    return invalid(name, value, `a duration ${least} up to 24h, such as 500ms, 30s, 5m or 1h`);
  }
  return ms;
}

// "auto": one worker per CPU this process may use.
function workerCount(name: Variable, value: string): number {
  if (value === "auto") return availableParallelism();
  const n = count(name, value);
  if (n > 64) return invalid(name, value, "auto or a whole number from 1 to 64");
  return n;
}

const UNIT_BYTES = { "": 1, KiB: 1024, MiB: 1024 * 1024 } as const;
const MIN_MESSAGE_BYTES = 1024;
const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

// Bounded both ways: below 1 KiB an ordinary Check no longer fits; above 64 MiB a single
// unauthenticated request could again make the server hold what issue 10 measured.
function byteSize(name: Variable, value: string): number {
  const match = /^(\d+)(KiB|MiB|)$/.exec(value);
  const bytes = match ? Number(match[1]) * UNIT_BYTES[match[2] as keyof typeof UNIT_BYTES] : Number.NaN;
  if (!(bytes >= MIN_MESSAGE_BYTES && bytes <= MAX_MESSAGE_BYTES)) {
    return invalid(name, value, "a size from 1KiB to 64MiB, in bytes or with KiB or MiB, e.g. 64KiB");
  }
  return bytes;
}

function oneOf<T extends string>(name: Variable, value: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  return invalid(name, value, allowed.join(" or "));
}

const HEADER_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;

function headerNames(name: Variable, value: string): string[] {
  const names = value.split(",").map((header) => header.trim().toLowerCase());
  if (names.some((header) => !HEADER_NAME.test(header))) {
    return invalid(name, value, "comma-separated header names, e.g. x-api-key,authorization");
  }
  return names;
}

function headerPrefix(name: Variable, value: string): string {
  const prefix = value.toLowerCase();
  if (!HEADER_NAME.test(prefix)) return invalid(name, value, "a header name prefix, e.g. x-keyward-");
  return prefix;
}

// A decimal from 0 to 1 (0.01 logs one decision in a hundred, on average).
function share(name: Variable, value: string): number {
  const n = /^(0|1|0?\.\d+|1\.0*)$/.test(value) ? Number(value) : Number.NaN;
  if (!(n >= 0 && n <= 1)) return invalid(name, value, "a number from 0 to 1, such as 0.01");
  return n;
}

function logLevel(name: Variable, value: string): LogLevel {
  if (value === "debug" || value === "info" || value === "warn" || value === "error") return value;
  return invalid(name, value, "debug, info, warn or error");
}
