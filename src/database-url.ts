// Parsed without the store: config.ts validates KEYWARD_DATABASE with it, and loading the store
// (better-sqlite3, Kysely) only to read a URL would cost every process that never opens one.

/** The file path of an `sqlite:` URL (`sqlite:./data/keyward.db`, `sqlite:///abs.db`), or undefined when the URL is not one. */
export function sqlitePath(url: string): string | undefined {
  if (!url.startsWith("sqlite:")) return undefined;
  const path = url.slice("sqlite:".length).replace(/^\/\/(?=\/)/, "");
  return path === "" ? undefined : path;
}
