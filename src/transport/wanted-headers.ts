import type { IncomingHttpHeaders } from "node:http";

// node:http builds `request.headers` on first use from every raw header, lower-casing each name:
// a forward-auth decision reads five or six of them, so it reads those from `rawHeaders` instead.

// Duplicates of these keep the first value, as node:http's `request.headers` does (its documented
// list); others are joined.
const FIRST_WINS = new Set([
  "age",
  "authorization",
  "content-length",
  "content-type",
  "etag",
  "expires",
  "from",
  "host",
  "if-modified-since",
  "if-unmodified-since",
  "last-modified",
  "location",
  "max-forwards",
  "proxy-authorization",
  "referer",
  "retry-after",
  "server",
  "user-agent",
]);

/**
 * A reader of the named headers only (lower-case names), giving what `request.headers` would hold
 * for them: the first value of authorization and content-length, `; `-joined cookies, other
 * duplicates joined with `, `.
 */
export function wantedHeaders(names: Iterable<string>): (raw: readonly string[]) => IncomingHttpHeaders {
  const wanted = new Set(names);
  const lengths = new Set([...wanted].map((name) => name.length));
  return (raw) => {
    const found: Record<string, string> = {};
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const rawName = raw[i] as string;
      // Most headers are not wanted, and their length says so before any lower-casing.
      if (!lengths.has(rawName.length)) continue;
      const name = rawName.toLowerCase();
      if (!wanted.has(name)) continue;
      const value = raw[i + 1] as string;
      const before = found[name];
      if (before === undefined) found[name] = value;
      else if (!FIRST_WINS.has(name)) found[name] = `${before}${name === "cookie" ? "; " : ", "}${value}`;
    }
    return found;
  };
}
