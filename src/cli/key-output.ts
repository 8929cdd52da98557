import { type Duration, timestampMs } from "@bufbuild/protobuf/wkt";
import {
  type Credits,
  EnvironmentSchema,
  type Key,
  KeyStatusSchema,
  type RateLimit,
  RefillInterval,
} from "../gen/keyward/v1/key_pb.js";
import { enumName, formatList, formatMap, formatTime, printFields, printTable } from "./output.js";

// How a key reads on a terminal. The secret never passes through here: only printSecret sees it.

const TABLE_HEADERS = [
  "KEY ID",
  "NAME",
  "PREFIX",
  "STATUS",
  "ENV",
  "SCOPES",
  "TIER",
  "REQ/MONTH",
  "EXPIRES",
  "CREATED",
];

/** Keys as a table, one row each. */
export function printKeyTable(keys: readonly Key[]): void {
  printTable(TABLE_HEADERS, keys.map(keyRow));
}

/** A key's cells in the table; REQ/MONTH is its allowed requests this month, as of the server's last flush. */
export function keyRow(key: Key): string[] {
  return [
    key.keyId,
    key.name,
    key.keyPrefix,
    enumName(KeyStatusSchema, key.status),
    environmentName(key),
    formatList(key.scopes),
    key.tier || "-",
    key.usage === undefined ? "-" : String(key.usage.requestsThisMonth),
    formatTime(key.expireTime, "never"),
    formatTime(key.createTime),
  ];
}

/** One key, `field: value`, with the contract's field names; optional fields only when set. */
export function printKey(key: Key): void {
  printFields(keyFields(key));
}

/** The fields printKey prints, in order; a value of undefined leaves the field out. */
export function keyFields(key: Key): [string, string | undefined][] {
  return [
    ["key_id", key.keyId],
    ["name", key.name],
    ["description", optional(key.description)],
    ["workspace", key.workspace],
    ["key_prefix", key.keyPrefix],
    ["status", enumName(KeyStatusSchema, key.status)],
    ["environment", environmentName(key)],
    ["scopes", formatList(key.scopes)],
    ["classes", key.classes.length === 0 ? "any" : formatList(key.classes)],
    ["owner_id", optional(key.ownerId)],
    ["metadata", Object.keys(key.metadata).length === 0 ? undefined : formatMap(key.metadata)],
    ["create_time", formatTime(key.createTime)],
    ["update_time", key.updateTime && formatTime(key.updateTime)],
    ["expire_time", expiry(key)],
    ["suspend_time", key.suspendTime && formatTime(key.suspendTime)],
    ["suspend_reason", optional(key.suspendReason)],
    ["revoke_time", key.revokeTime && formatTime(key.revokeTime)],
    ["revoke_reason", optional(key.revokeReason)],
    ["rotated_from_key_id", optional(key.rotatedFromKeyId)],
    ["rotated_to_key_id", optional(key.rotatedToKeyId)],
    ["tier", optional(key.tier)],
    ["rate_limit", key.rateLimit && formatRateLimit(key.rateLimit)],
    ["monthly_quota", key.monthlyQuota === 0n ? "unlimited" : String(key.monthlyQuota)],
    ["credits", key.credits && formatCredits(key.credits)],
    ["allowed_cidrs", key.allowedCidrs.length === 0 ? "any" : formatList(key.allowedCidrs)],
    ...usageFields(key),
  ];
}

// Usage is as of the server's last flush (KEYWARD_USAGE_FLUSH). A response without it (a change whose
// usage could not be read) shows no counts rather than zeros, and the last use only when set.
function usageFields(key: Key): [string, string | undefined][] {
  const usage = key.usage;
  const lastUsed = key.lastUsedTime ? formatTime(key.lastUsedTime) : usage && "never";
  return [
    ["requests_today", usage && String(usage.requestsToday)],
    ["requests_this_month", usage && String(usage.requestsThisMonth)],
    ["denied_this_month", usage && String(usage.deniedThisMonth)],
    ["last_used_time", lastUsed],
  ];
}

/** `100/1m`: the form --rate-limit takes. */
export function formatRateLimit(rateLimit: RateLimit): string {
  return `${rateLimit.limit}/${formatWindow(rateLimit.window)}`;
}

function formatWindow(window: Duration | undefined): string {
  const seconds = Number(window?.seconds ?? 0n);
  if (seconds > 0 && seconds % 3600 === 0) return `${seconds / 3600}h`;
  if (seconds > 0 && seconds % 60 === 0) return `${seconds / 60}m`;
  return `${seconds}s`;
}

function formatCredits(credits: Credits): string {
  const refill = credits.refill;
  if (refill === undefined) return `${credits.remaining} left, never refilled`;
  const interval = refill.interval === RefillInterval.DAILY ? "daily" : "monthly";
  return `${credits.remaining} left, refilled to ${refill.amount} ${interval}`;
}

/**
 * Prints a new key's secret alone on the last line of stdout, so `tail -n 1` captures it; the warning
 * goes to stderr, so that it never ends up in the captured value.
 */
export function printSecret(secret: string): void {
  warnSecretShownOnce();
  process.stdout.write(`${secret}\n`);
}

/** The reminder that goes with every new secret, --json included (stderr keeps the JSON clean). */
export function warnSecretShownOnce(): void {
  process.stderr.write(
    "keyward: warning: the secret is shown this once and cannot be retrieved again; store it now.\n",
  );
}

function environmentName(key: Key): string {
  return enumName(EnvironmentSchema, key.environment).toLowerCase();
}

// Expiry is not a status (key.proto): the server derives it at each decision. Saying "expired" next
// to the time saves the operator the comparison.
function expiry(key: Key): string {
  if (key.expireTime === undefined) return "never";
  const time = formatTime(key.expireTime);
  return timestampMs(key.expireTime) <= Date.now() ? `${time} (expired)` : time;
}

function optional(text: string): string | undefined {
  return text === "" ? undefined : text;
}
