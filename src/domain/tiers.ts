import { parse } from "yaml";
import { parseDurationMs } from "./duration-text.js";
import { MAX_WINDOW_MS, MIN_WINDOW_MS, type RateLimit } from "./key-limits.js";
import { quoted } from "./secret-input.js";

/** Named rate limits that keys refer to by their `tier`. Read once at start-up (config.tiers). */
export type TierTable = ReadonlyMap<string, RateLimit>;

const MINUTE = 60_000;

/** The tiers when KEYWARD_TIERS names no file. */
export const DEFAULT_TIERS: TierTable = new Map([
  ["free", { limit: 10, windowMs: MINUTE }],
  ["basic", { limit: 100, windowMs: MINUTE }],
  ["pro", { limit: 1_000, windowMs: MINUTE }],
  ["enterprise", { limit: 10_000, windowMs: MINUTE }],
]);

const TIER_NAME = /^[a-z][a-z0-9_-]{0,31}$/;
const MAX_TIERS = 100;

/** A message refusing a tier the table does not have, naming it and the known ones; undefined when known. */
export function tierError(tiers: TierTable, tier: string): string | undefined {
  if (tiers.has(tier)) return undefined;
  return `unknown tier ${quoted(tier, 64)}: expected one of ${[...tiers.keys()].join(", ")}`;
}

/**
 * Parses a tier file, `tiers: { free: { limit: 10, window: 1m }, … }`, which replaces the default
 * table whole. Durations take the grammar of the KEYWARD_* variables (500ms, 30s, 5m, 1h).
 */
export function parseTiers(text: string): { tiers: TierTable } | { error: string } {
  let document: unknown;
  try {
    document = parse(text);
  } catch (error) {
    return { error: `not YAML: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}` };
  }
  const entries = isRecord(document) && isRecord(document.tiers) ? Object.entries(document.tiers) : undefined;
  if (entries === undefined || entries.length === 0) {
    return { error: "expected a `tiers:` map of names to { limit, window }" };
  }
  if (entries.length > MAX_TIERS) return { error: `at most ${MAX_TIERS} tiers` };
  const tiers = new Map<string, RateLimit>();
  for (const [name, value] of entries) {
    if (!TIER_NAME.test(name)) {
      return {
        error: `tier name ${quoted(name, 64)} must be 1–32 of a-z, 0-9, _ and -, starting with a letter`,
      };
    }
    const limit = isRecord(value) ? value.limit : undefined;
    const window = isRecord(value) ? value.window : undefined;
    if (typeof limit !== "number" || !Number.isSafeInteger(limit) || limit < 1) {
      return { error: `tier ${name}: limit must be a whole number ≥ 1` };
    }
    const windowMs = typeof window === "string" ? parseDurationMs(window) : undefined;
    if (windowMs === undefined || windowMs < MIN_WINDOW_MS || windowMs > MAX_WINDOW_MS) {
      return { error: `tier ${name}: window must be a duration from 1s to 24h, such as 1s, 1m or 1h` };
    }
    tiers.set(name, { limit, windowMs });
  }
  return { tiers };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Where a tier is in use: keys not revoked that name it, and workspaces that default to it. */
export interface TierUse {
  readonly tier: string;
  readonly keys: number;
  readonly workspaces: readonly string[];
}

/**
 * Why the table cannot serve the stored keys: a tier that keys or workspace defaults name but the
 * table lacks (removed from KEYWARD_TIERS) would leave those keys with no rate limit at all, so
 * start-up refuses it, naming the tiers. Undefined when every tier in use is defined.
 */
export function missingTiersError(table: TierTable, inUse: readonly TierUse[]): string | undefined {
  const missing = inUse.filter((use) => !table.has(use.tier));
  if (missing.length === 0) return undefined;
  const named = missing.map((use) => {
    const where = [
      ...(use.keys > 0 ? [`${use.keys} key${use.keys === 1 ? "" : "s"}`] : []),
      ...(use.workspaces.length > 0
        ? [`the default of workspace ${use.workspaces.map((w) => JSON.stringify(w)).join(", ")}`]
        : []),
    ];
    return `"${use.tier}" (${where.join(" and ")})`;
  });
  return `tiers in use are not defined: ${named.join("; ")}; define them again, or move those keys and workspaces to another tier first`;
}
