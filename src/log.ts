import { withoutKeys } from "./domain/secret-input.js";

/** Levels in increasing severity. */
export type LogLevel = "debug" | "info" | "warn" | "error";

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Fields of a log line. Never put a key, a bearer token or a request's headers here. */
export type LogFields = Record<string, unknown>;

/** Structured logging: one JSON object per line. */
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

export function createLogger(
  level: LogLevel,
  write: (line: string) => void = (line) => process.stderr.write(line),
): Logger {
  const min = RANK[level];
  const emit = (lvl: LogLevel, message: string, fields?: LogFields) => {
    if (RANK[lvl] < min) return;
    const entry: LogFields = { time: new Date().toISOString(), level: lvl, msg: message };
    if (fields) for (const name in fields) entry[name] = serialize(fields[name]);
    // Inputs shaped like a key are refused before they reach a log call; this catches what slips past,
    // such as an error's cause quoting a value (issue #10, defect 6).
    write(`${withoutKeys(JSON.stringify(entry))}\n`);
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
  };
}

/** Errors become their name, message, stack and cause chain; JSON.stringify would drop them all. */
function serialize(value: unknown): unknown {
  if (!(value instanceof Error)) return value;
  return { name: value.name, message: value.message, stack: value.stack, cause: serialize(value.cause) };
}
