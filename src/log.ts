import { Writable } from "node:stream";
import { type DestinationStream, pino } from "pino";
import { PinoPretty } from "pino-pretty";
import { withoutKeys } from "./domain/secret-input.js";

/** Levels in increasing severity. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** KEYWARD_LOG_FORMAT: JSON lines (production), or pino-pretty's coloured lines (a local run). */
export type LogFormat = "json" | "pretty";

/** Fields of a log line. Never put a key, a bearer token or a request's headers here. */
export type LogFields = Record<string, unknown>;

/** Structured logging: one JSON object per line. */
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

/**
 * Field names pino replaces by `[redacted]` wherever they appear (at the top or one level down), should
 * a credential ever be handed to a log call. By design none is: inputs shaped like a key are refused
 * before they reach one, and every line is scrubbed of key-shaped text on its way out (withoutKeys).
 */
export const REDACTED_FIELDS = [
  "secret",
  "api_key",
  "apiKey",
  "authorization",
  "password",
  "token",
  "*.secret",
  "*.api_key",
  "*.apiKey",
  "*.authorization",
  "*.password",
  "*.token",
  'headers["x-api-key"]',
];

/**
 * A pino logger behind Keyward's Logger (issue 15): `{"level":"info","time":"<ISO>",…fields,"msg":…}` per
 * line, written by `write` (stderr by default), or pretty-printed. An Error in a field becomes its name,
 * message, stack and cause chain.
 */
export function createLogger(
  level: LogLevel,
  write: (line: string) => void = (line) => process.stderr.write(line),
  format: LogFormat = "json",
): Logger {
  const scrubbed = (line: string) => write(withoutKeys(line));
  const destination: DestinationStream =
    format === "pretty"
      ? PinoPretty({
          colorize: process.stderr.isTTY === true,
          sync: true,
          destination: new Writable({
            write(chunk: Buffer, _encoding, done) {
              scrubbed(chunk.toString());
              done();
            },
          }),
        })
      : { write: scrubbed };
  const logger = pino(
    {
      level,
      base: null,
      messageKey: "msg",
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACTED_FIELDS, censor: "[redacted]" },
    },
    destination,
  );
  const emit = (lvl: LogLevel) => (message: string, fields?: LogFields) => {
    if (!logger.isLevelEnabled(lvl)) return;
    if (fields === undefined) logger[lvl](message);
    else logger[lvl](serializeFields(fields), message);
  };
  return { debug: emit("debug"), info: emit("info"), warn: emit("warn"), error: emit("error") };
}

function serializeFields(fields: LogFields): LogFields {
  const out: LogFields = {};
  for (const name in fields) out[name] = serialize(fields[name]);
  return out;
}

/** Errors become their name, message, stack and cause chain; JSON.stringify would drop them all. */
function serialize(value: unknown): unknown {
  if (!(value instanceof Error)) return value;
  return { name: value.name, message: value.message, stack: value.stack, cause: serialize(value.cause) };
}
