import { writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

// Preloaded by scenario 12 into a Keyward started as scenario 1's (`node --import
// ./bench/module-probe.mjs dist/main.js`): on SIGUSR2 it writes the modules loaded so far whose
// path names @opentelemetry to $MODULE_PROBE_DIR/<pid>.json, with the modules that required them. Node's CommonJS cache is where to look:
// every @opentelemetry package installed resolves to CommonJS in Node (none has an "import"
// condition but semantic-conventions, which only the others require), and a CommonJS module
// imported from ESM, as dist/ imports them, is in that cache too. The bench also asks a Keyward
// with tracing on, to show that the probe sees them when they are there. Without the variable it
// does nothing (and SIGUSR2 keeps its default action).

const dir = process.env.MODULE_PROBE_DIR;
if (dir !== undefined && dir !== "") {
  const require = createRequire(import.meta.url);
  process.on("SIGUSR2", () => {
    const loaded = Object.keys(require.cache);
    const isOtel = (path) => path.includes("/@opentelemetry/");
    const opentelemetry = loaded.filter(isOtel);
    // Who brought them in: each module outside @opentelemetry that required one (a module imported
    // from ESM, as dist/ imports them, has no such parent).
    const requiredBy = [];
    for (const path of loaded) {
      if (isOtel(path)) continue;
      for (const child of require.cache[path]?.children ?? [])
        if (isOtel(child.id)) requiredBy.push({ module: child.id, by: path });
    }
    const record = { time: Date.now(), commonJsModules: loaded.length, opentelemetry, requiredBy };
    writeFileSync(join(dir, `${process.pid}.json`), JSON.stringify(record));
  });
}
