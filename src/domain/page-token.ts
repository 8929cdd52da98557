import type { Cursor } from "./key-store.js";

/**
 * Opaque page tokens for newest-first listings. A token holds the last item's
 * position (time, id) and a fingerprint of the query it belongs to, so it cannot
 * be replayed against another workspace or other filters. Keyset positions stay
 * stable while keys are inserted: a new key sorts before every existing cursor.
 */
export function encodePageToken(cursor: Cursor, query: string): string {
  return Buffer.from(JSON.stringify({ t: cursor.time, i: cursor.id, q: query })).toString("base64url");
}

/** undefined for an empty token; an error message for a token that is not one of ours or not this query's. */
export function decodePageToken(
  token: string,
  query: string,
): { cursor: Cursor | undefined } | { error: string } {
  if (token === "") return { cursor: undefined };
  try {
    const parsed = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as unknown;
    if (
      typeof parsed === "object" &&
      parsed !== null &&
      typeof (parsed as { t?: unknown }).t === "number" &&
      typeof (parsed as { i?: unknown }).i === "string" &&
      typeof (parsed as { q?: unknown }).q === "string"
    ) {
      const { t, i, q } = parsed as { t: number; i: string; q: string };
      if (q !== query)
        return { error: "page_token belongs to another query: keep the same workspace and filters" };
      return { cursor: { time: t, id: i } };
    }
  } catch {
    // fall through: not base64url JSON
  }
  return { error: "page_token is not valid" };
}

/** Checks page_size: 0 means the default. */
export function pageSize(requested: number, fallback = 100, max = 1000): number | string {
  if (requested === 0) return fallback;
  if (!Number.isInteger(requested) || requested < 0 || requested > max) return `page_size must be 0–${max}`;
  return requested;
}
