import { pathToFileURL } from "node:url";
import { loadConfig } from "./config.js";
import { startKeyward } from "./keyward.js";
import { createLogger } from "./log.js";
import { PolicyFileError } from "./policy/policy-file.js";

/**
 * Runs the server until SIGTERM or SIGINT, then drains and exits 0.
 * An invalid configuration (or route policy file) exits 2 with one line naming the variable.
 */
export async function main(env: Readonly<Record<string, string | undefined>> = process.env): Promise<void> {
  const loaded = loadConfig(env);
  if (!loaded.ok) {
    process.stderr.write(`keyward: ${loaded.error}\n`);
    process.exit(2);
  }
  const log = createLogger(loaded.config.logLevel);
  let keyward: Awaited<ReturnType<typeof startKeyward>>;
  try {
    keyward = await startKeyward(loaded.config, log);
  } catch (error) {
    if (error instanceof PolicyFileError) {
      process.stderr.write(`keyward: KEYWARD_POLICY: ${error.message}\n`);
      process.exit(2);
    }
    log.error("start-up failed", { error });
    process.stderr.write(
      `keyward: start-up failed: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    process.exit(1);
  }
  const stop = (signal: string) => {
    log.info("draining", { signal });
    keyward.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error("shutdown failed", { error });
        process.exit(1);
      },
    );
  };
  process.once("SIGTERM", () => stop("SIGTERM"));
  process.once("SIGINT", () => stop("SIGINT"));
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
