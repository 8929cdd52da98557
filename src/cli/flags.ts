import { create } from "@bufbuild/protobuf";
import { type Duration, DurationSchema, type Timestamp, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { InvalidArgumentError, Option } from "commander";
import { Environment } from "../gen/keyward/v1/key_pb.js";
import { parseDuration } from "./duration.js";

// Parsers for flag values. Each throws commander's InvalidArgumentError, so a bad value is a usage
// error (exit 2, with help) caught before any call to the server.

/** `--ttl`: a positive duration; the server refuses a zero TTL, so say so before calling it. */
export function positiveDuration(text: string): Duration {
  const seconds = parseDuration(text);
  if (seconds === undefined || seconds === 0) {
    throw new InvalidArgumentError("expected a positive duration such as 30d, 12h, 90m or 3600s");
  }
  return create(DurationSchema, { seconds: BigInt(seconds) });
}

/** `--grace`: a duration where 0 is meaningful (revoke the old key at once). */
export function duration(text: string): Duration {
  const seconds = parseDuration(text);
  if (seconds === undefined)
    throw new InvalidArgumentError("expected a duration such as 24h, 90m, 3600s or 0");
  return create(DurationSchema, { seconds: BigInt(seconds) });
}

// RFC 3339 needs a date, a time and an explicit offset; Date.parse alone would accept "2030" or a
// local time, and a local-time expiry silently differs between an operator's laptop and CI.
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;

/** `--expires`, `--since`, `--until`: an RFC 3339 timestamp such as 2030-01-31T00:00:00Z. */
export function timestamp(text: string): Timestamp {
  const match = RFC3339.exec(text);
  const ms = match !== null && isCalendarDate(match) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(ms))
    throw new InvalidArgumentError("expected an RFC 3339 time such as 2030-01-31T00:00:00Z");
  return timestampFromMs(ms);
}

/** Date.parse rolls 2030-02-31 over into March instead of refusing it. */
function isCalendarDate([, year, month, day]: RegExpExecArray): boolean {
  const date = new Date(Date.UTC(Number(year), Number(month) - 1, Number(day)));
  return date.getUTCMonth() === Number(month) - 1 && date.getUTCDate() === Number(day);
}

/** `--page-size`, `--max-keys`: a whole number ≥ 0 that fits an int32. */
export function count(text: string): number {
  const value = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!(value <= 2_147_483_647)) throw new InvalidArgumentError("expected a whole number");
  return value;
}

/** `--meta key=value`, repeatable: collects into one map. The value may itself contain `=`. */
export function metadataEntry(text: string, previous: Record<string, string> = {}): Record<string, string> {
  const at = text.indexOf("=");
  if (at <= 0) throw new InvalidArgumentError("expected key=value");
  return { ...previous, [text.slice(0, at)]: text.slice(at + 1) };
}

/** An option taking one of a closed set of words, parsed to its value (an enum member, usually). */
export function choiceOption<T>(
  flags: string,
  description: string,
  values: Readonly<Record<string, T>>,
): Option {
  const words = Object.keys(values);
  return new Option(flags, description).choices(words).argParser((text: string) => {
    // Own properties only: `--env constructor` must not find Object.prototype.constructor.
    if (!Object.hasOwn(values, text)) throw new InvalidArgumentError(`expected one of ${words.join(", ")}`);
    return values[text] as T;
  });
}

/** The `--env` / `--default-env` option: `live` or `test`, parsed to the proto enum. */
export function environmentOption(flags: string, description: string): Option {
  return choiceOption(flags, description, { live: Environment.LIVE, test: Environment.TEST });
}
