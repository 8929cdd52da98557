/** Seconds per unit of the duration flags (`--ttl`, `--grace`). */
const UNIT_SECONDS = { d: 86_400, h: 3_600, m: 60, s: 1 } as const;

/**
 * Parses a duration flag: a whole number and one unit (`30d`, `12h`, `90m`, `3600s`), or a bare `0`.
 * Returns whole seconds, or undefined when the text is not a duration. One unit only, on purpose:
 * `1h30m` is rare on a command line and `90m` says the same without a grammar to learn.
 */
export function parseDuration(text: string): number | undefined {
  if (text === "0") return 0;
  const match = /^(\d+)([dhms])$/.exec(text);
  if (match === null) return undefined;
  const seconds = Number(match[1]) * UNIT_SECONDS[match[2] as keyof typeof UNIT_SECONDS];
  // Beyond 2^53 the multiplication is no longer exact; no real TTL gets near it.
  return Number.isSafeInteger(seconds) ? seconds : undefined;
}
