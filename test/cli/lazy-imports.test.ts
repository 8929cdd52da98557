import { readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { describe, expect, it } from "vitest";

// `keyward --help` and the management commands must not load the server or the store (issue 11):
// the static import graph of the CLI's entry stops short of them; the commands that need them
// (serve, migrate, bootstrap) import them when they run.

/** Every module reachable from `entry` through static, non-type imports (relative paths and packages). */
function staticImports(entry: string): Set<string> {
  const seen = new Set<string>();
  const pending = [entry];
  while (pending.length > 0) {
    const file = pending.pop() as string;
    if (seen.has(file)) continue;
    seen.add(file);
    if (!file.startsWith("src/")) continue; // a package: its own graph is not followed
    const source = readFileSync(file, "utf8");
    for (const match of source.matchAll(/^(?:import|export)\s+(?!type\b)[^;]*?from\s+"([^"]+)"/gms)) {
      const specifier = match[1] as string;
      pending.push(
        specifier.startsWith(".")
          ? relative(".", join(dirname(file), specifier)).replace(/\.js$/, ".ts")
          : specifier,
      );
    }
  }
  return seen;
}

describe("the keyward command", () => {
  it("loads neither the server nor the store until a command that needs them runs", () => {
    const loaded = [...staticImports("src/cli/main.ts")];
    expect(loaded).toContain("src/cli/keys-commands.ts"); // the walk does follow the CLI's imports
    const heavy = loaded.filter(
      (module) =>
        /^src\/(main|keyward|server|config)\.ts$|^src\/store\/|^src\/transport\//.test(module) ||
        /^(better-sqlite3|kysely|@grpc\/grpc-js)$/.test(module),
    );
    expect(heavy).toEqual([]);
  });
});
