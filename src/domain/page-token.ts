import { hash } from "node:crypto";
import type { Cursor } from "./key-store.js";
import { fail, type Outcome, ok } from "./outcome.js";

/**
 * Opaque page tokens for newest-first listings. A token holds the last item's
 * position (time, id) and a fingerprint of the query it belongs to, so it cannot
 * be replayed against another workspace or other filters. The fingerprint is a
 * hash, never the filters themselves: a token echoes no input (a key pasted as a
 * filter would come back base64-encoded otherwise). Keyset positions stay
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

/** A validated listing request: how many items, after which position, for which query. */
export interface PageRequest {
  readonly size: number;
  readonly cursor: Cursor | undefined;
  readonly fingerprint: string;
}

/** Checks page_size and page_token against the query they must belong to. */
export function pageRequest(
  requestedSize: number,
  token: string,
  query: readonly unknown[],
): Outcome<PageRequest> {
  const size = pageSize(requestedSize);
  if (typeof size === "string") return fail("invalid_argument", size);
  const fingerprint = hash("sha256", JSON.stringify(query), "base64url").slice(0, 22); // 132 bits
  const position = decodePageToken(token, fingerprint);
  if ("error" in position) return fail("invalid_argument", position.error);
  return ok({ size, cursor: position.cursor, fingerprint });
}

/** Cuts a page from `size + 1` fetched items; the extra one only says that another page exists. */
export function pageOf<T>(
  items: readonly T[],
  request: PageRequest,
  cursorOf: (item: T) => Cursor,
): { page: T[]; nextPageToken: string } {
  const page = items.slice(0, request.size);
  const last = page.at(-1);
  const more = items.length > request.size && last !== undefined;
  return { page, nextPageToken: more ? encodePageToken(cursorOf(last), request.fingerprint) : "" };
}
