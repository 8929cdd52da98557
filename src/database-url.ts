// Parsed without the store: config.ts validates KEYWARD_DATABASE with it, and loading the store
// (better-sqlite3, pg, Kysely) only to read a URL would cost every process that never opens one.

/** The file path of an `sqlite:` URL (`sqlite:./data/keyward.db`, `sqlite:///abs.db`), or undefined when the URL is not one. */
export function sqlitePath(url: string): string | undefined {
  if (!url.startsWith("sqlite:")) return undefined;
  const path = url.slice("sqlite:".length).replace(/^\/\/(?=\/)/, "");
  return path === "" ? undefined : path;
}

/** Whether the URL names a PostgreSQL database (`postgres://` or `postgresql://`, as libpq and `pg` take them). */
export function isPostgresUrl(url: string): boolean {
  if (!/^postgres(ql)?:\/\//.test(url)) return false;
  try {
    return new URL(url).host !== "";
  } catch {
    return false;
  }
}

/** Whether the URL names a Redis server (`redis://`, or `rediss://` for TLS), as ioredis takes them. */
export function isRedisUrl(url: string): boolean {
  if (!/^rediss?:\/\//.test(url)) return false;
  try {
    return new URL(url).host !== "";
  } catch {
    return false;
  }
}

/** The URL as it may be logged or shown: a password (PostgreSQL or Redis) is replaced by `***`. */
export function redactedUrl(url: string): string {
  if (!isPostgresUrl(url) && !isRedisUrl(url)) return url.replace(/\/\/[^@/]*@/, "//***@");
  const parsed = new URL(url);
  if (parsed.password !== "") parsed.password = "***";
  return parsed.toString();
}
