import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type BenchContext, type BenchRequest, checkAndCapture } from "./context.js";
import { startKeyward } from "./servers.js";

/** What bench/module-probe.mjs saw loaded in one Keyward process. */
export interface LoadedModules {
  /** Every module in Node's CommonJS cache (grpc-js, better-sqlite3, …): the probe saw something. */
  readonly commonJsModules: number;
  /** The paths among them under @opentelemetry/. */
  readonly opentelemetry: readonly string[];
  /** Which module outside @opentelemetry required which of them (CommonJS edges only). */
  readonly requiredBy: readonly { readonly module: string; readonly by: string }[];
}

/** The package a module path belongs to, `@opentelemetry/<name>` (or `prom-client`, …), else the path. */
export function packageOf(path: string): string {
  const at = path.lastIndexOf("/node_modules/");
  if (at === -1) return path;
  const [scope, name] = path.slice(at + "/node_modules/".length).split("/");
  return scope?.startsWith("@") ? `${scope}/${name}` : (scope ?? path);
}

/**
 * Starts Keyward as scenario 1 does (plus `env`) with bench/module-probe.mjs preloaded, has it
 * answer the request once, and asks the probe which @opentelemetry modules the process loaded.
 * The process is not one that is measured: the probe stays out of every measured run.
 */
export async function loadedModules(
  context: BenchContext,
  name: string,
  request: BenchRequest,
  env: Readonly<Record<string, string>>,
): Promise<LoadedModules> {
  const dir = join(context.tempDir, `modules-${name}`);
  mkdirSync(dir, { recursive: true });
  const keyward = await startKeyward({
    tempDir: context.tempDir,
    database: context.database,
    name: `modules-${name}`,
    nodeOptions: ["--import", "./bench/module-probe.mjs"],
    env: { ...env, MODULE_PROBE_DIR: dir },
  });
  try {
    await checkAndCapture(keyward, request);
    const file = join(dir, `${keyward.pid}.json`);
    process.kill(keyward.pid, "SIGUSR2");
    for (const deadline = Date.now() + 5_000; !existsSync(file); ) {
      if (Date.now() > deadline) throw new Error(`${keyward.name}: the module probe wrote nothing`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    // The probe writes the file in one call; a read that races it would fail to parse, so retry once.
    const read = () => JSON.parse(readFileSync(file, "utf8")) as LoadedModules;
    let record: LoadedModules;
    try {
      record = read();
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
      record = read();
    }
    return record;
  } finally {
    await keyward.stop();
  }
}
