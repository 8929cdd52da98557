import { writeFileSync } from "node:fs";
import { join } from "node:path";

// Preloaded into the soak's server processes (`node --expose-gc --import ./bench/heap-probe.mjs
// dist/main.js`; node:cluster gives the workers the primary's execArgv, so they load it too). Plain
// JavaScript, because the server it is loaded into is compiled and runs without a TypeScript loader. Keyward exposes no heap metric: on SIGUSR2 each process runs a full GC and writes
// its process.memoryUsage() to $SOAK_HEAP_DIR/<pid>.json, where bench/soak.ts reads it: the live
// heap at a moment the soak chooses, not wherever the GC cycle happens to be. Without the variable
// it does nothing (and SIGUSR2 keeps its default action).

const dir = process.env.SOAK_HEAP_DIR;
/** @type {(() => void) | undefined} */
const gc = globalThis.gc;
if (dir !== undefined && dir !== "") {
  process.on("SIGUSR2", () => {
    gc?.();
    const { rss, heapUsed, heapTotal, external } = process.memoryUsage();
    const record = { time: Date.now(), collected: gc !== undefined, rss, heapUsed, heapTotal, external };
    writeFileSync(join(dir, `${process.pid}.json`), JSON.stringify(record));
  });
}
