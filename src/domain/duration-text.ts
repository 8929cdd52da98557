const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

/**
 * A duration written as a whole number and a unit (`500ms`, `30s`, `5m`, `1h`), in ms; undefined when
 * the text is not one. The grammar of every duration in configuration (KEYWARD_* variables and the
 * KEYWARD_TIERS file); callers check the range they accept.
 */
export function parseDurationMs(text: string): number | undefined {
  const match = /^(\d+)(ms|s|m|h)$/.exec(text);
  return match ? Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS] : undefined;
}
