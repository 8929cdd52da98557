import type { LogLevel } from "./log.js";
import { sqlitePath } from "./store/database.js";

/** Everything Keyward reads from its environment, validated once at start-up. */
export interface Config {
  /** gRPC listener (grpc-js), `host:port`. */
  readonly listen: string;
  /** Connect/gRPC-Web/JSON listener, `host:port`; undefined when turned off. */
  readonly httpListen: string | undefined;
  /** `sqlite:<path>`. */
  readonly database: string;
  readonly cache: {
    readonly maxKeys: number;
    readonly ttlMs: number;
    readonly maxMissing: number;
    readonly missingTtlMs: number;
  };
  /** How long in-flight calls may take to finish on SIGTERM before they are cut. */
  readonly drainTimeoutMs: number;
  readonly logLevel: LogLevel;
}

/** The variables Keyward reads, with their defaults (documented in the README's configuration table). */
export const DEFAULTS = {
  KEYWARD_LISTEN: "0.0.0.0:50051",
  KEYWARD_HTTP_LISTEN: "0.0.0.0:8080",
  KEYWARD_DATABASE: "sqlite:./data/keyward.db",
  KEYWARD_CACHE_SIZE: "100000",
  KEYWARD_CACHE_TTL: "30s",
  KEYWARD_NEGATIVE_CACHE_SIZE: "10000",
  KEYWARD_NEGATIVE_CACHE_TTL: "5s",
  KEYWARD_DRAIN_TIMEOUT: "10s",
  KEYWARD_LOG_LEVEL: "info",
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
      database: database("KEYWARD_DATABASE", read("KEYWARD_DATABASE")),
      cache: {
        maxKeys: count("KEYWARD_CACHE_SIZE", read("KEYWARD_CACHE_SIZE")),
        ttlMs: duration("KEYWARD_CACHE_TTL", read("KEYWARD_CACHE_TTL"), 1),
        maxMissing: count("KEYWARD_NEGATIVE_CACHE_SIZE", read("KEYWARD_NEGATIVE_CACHE_SIZE")),
        missingTtlMs: duration("KEYWARD_NEGATIVE_CACHE_TTL", read("KEYWARD_NEGATIVE_CACHE_TTL"), 1),
      },
      drainTimeoutMs: duration("KEYWARD_DRAIN_TIMEOUT", read("KEYWARD_DRAIN_TIMEOUT")),
      logLevel: logLevel("KEYWARD_LOG_LEVEL", read("KEYWARD_LOG_LEVEL")),
    };
    return { ok: true, config: Object.freeze(config) };
  } catch (error) {
    if (error instanceof InvalidVariable) return { ok: false, error: error.message };
    throw error;
  }
}

class InvalidVariable extends Error {}

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
  if (sqlitePath(value) === undefined) invalid(name, value, "sqlite:<path>, e.g. sqlite:./data/keyward.db");
  return value;
}

function count(name: Variable, value: string): number {
  const n = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1) invalid(name, value, "a whole number ≥ 1");
  return n;
}

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

// Cache TTLs must be positive: lru-cache reads a TTL of 0 as "never expires".
function duration(name: Variable, value: string, minMs = 0): number {
  const match = /^(\d+)(ms|s|m|h)$/.exec(value);
  const ms = match ? Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS] : Number.NaN;
  if (!(ms >= minMs) || !Number.isSafeInteger(ms)) {
    return invalid(name, value, `a duration${minMs > 0 ? " above zero" : ""} such as 500ms, 30s, 5m or 1h`);
  }
  return ms;
}

function logLevel(name: Variable, value: string): LogLevel {
  if (value === "debug" || value === "info" || value === "warn" || value === "error") return value;
  return invalid(name, value, "debug, info, warn or error");
}
