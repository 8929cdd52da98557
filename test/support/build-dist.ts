import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";

/**
 * Vitest global set-up: compiles src/ into dist/ (incrementally) before any test runs, because the
 * tests that start processes run what production runs — `npm start`'s `node dist/main.js` and
 * bin/keyward.js, both compiled — and a dist/ older than the sources would test stale code.
 */
export default function buildDist(): void {
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
  execFileSync(process.execPath, [tsc, "-p", "tsconfig.build.json"], { stdio: "inherit" });
}
