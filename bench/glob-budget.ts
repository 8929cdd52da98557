import { compilePolicy, MAX_ROUTE_PATH_LENGTH, matchRoute } from "../src/domain/route-policy.js";

// npm run bench:glob
// Route policy globs against 64 KiB adversarial paths (issue 10, defect 5: one 20.8 KB path against
// /api/**/orders/**/items/**/notes held a worker for 15 s). Each path is matched through matchRoute
// against a one-rule policy, once to warm up and then RUNS times; the median must stay within
// BUDGET_MS, or the script exits 1. The budget is far above what a linear matcher needs on a shared
// 2-CPU machine and far below what a backtracking one takes; test/domain/path-glob.test.ts proves
// the linearity itself by counting steps, without a clock.

const BUDGET_MS = 50;
const RUNS = 7;
const n = MAX_ROUTE_PATH_LENGTH;

const cases: readonly (readonly [glob: string, path: string])[] = [
  ["/api/**/orders/**/items/**/notes", `/api${"/orders/items".repeat(n / 13)}/x`],
  ["/api/**/orders/**/items/**/notes", `/api${"/orders".repeat(n / 7)}`],
  ["/a/**/a/**/a/**/a/**/b", "/a".repeat(n / 2)],
  ["/**/**/**/**/z", "/y".repeat(n / 2)],
  ["/x/*a*a*a*a*b", `/x/${"a".repeat(n - 3)}`],
  ["/**a**a**a**b", `/${"a/".repeat(n / 2 - 1)}`],
  ["/v1/**/*.json", `/v1/${"a.json/".repeat(n / 7)}x`],
];

let failed = false;
for (const [glob, path] of cases) {
  const compiled = compilePolicy([{ path: glob, scopes: ["api:read"] }]);
  if ("error" in compiled) throw new Error(compiled.error);
  const policy = compiled.policy;
  const time = () => {
    const start = performance.now();
    const rule = matchRoute(policy, "GET", path);
    const elapsed = performance.now() - start;
    if (rule !== undefined) throw new Error(`${glob} unexpectedly matched the adversarial path`);
    return elapsed;
  };
  time();
  const times = Array.from({ length: RUNS }, time).sort((a, b) => a - b);
  const median = times[Math.floor(RUNS / 2)] as number;
  const ok = median <= BUDGET_MS;
  failed ||= !ok;
  process.stdout.write(
    `${ok ? "ok  " : "OVER"} ${glob.padEnd(34)} ${(path.length / 1024).toFixed(1).padStart(5)} KiB  ` +
      `median ${median.toFixed(2).padStart(6)} ms  max ${(times.at(-1) as number).toFixed(2).padStart(6)} ms  ` +
      `(budget ${BUDGET_MS} ms)\n`,
  );
}
if (failed) {
  process.stderr.write("glob-budget: a route glob took longer than its budget on an adversarial path\n");
  process.exit(1);
}
