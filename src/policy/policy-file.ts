import { readFileSync, unwatchFile, watchFile } from "node:fs";
import { parse } from "yaml";
import { compilePolicy, type RoutePolicy } from "../domain/route-policy.js";
import type { Logger } from "../log.js";

/** The route policy file in force, reloaded when it changes. */
export interface PolicyFile {
  /** The last policy that parsed; a broken edit never replaces it. */
  current(): RoutePolicy;
  /** Reads the file again now (SIGHUP), as a change seen by the watch does. */
  reload(): void;
  close(): void;
}

/** The file could not be read or is not a valid policy; at start-up this stops Keyward. */
export class PolicyFileError extends Error {}

/** Reads and compiles a policy file, or throws PolicyFileError naming the file and the problem. */
export function readPolicyFile(path: string): RoutePolicy {
  let document: unknown;
  try {
    document = parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new PolicyFileError(
      `route policy ${path}: ${error instanceof Error ? error.message.split("\n")[0] : error}`,
    );
  }
  const compiled = compilePolicy(document);
  if ("error" in compiled) throw new PolicyFileError(`route policy ${path}: ${compiled.error}`);
  return compiled.policy;
}

/**
 * Loads the policy and watches the file (by polling its stat, which also sees
 * the symlink swaps of a Kubernetes ConfigMap). A broken file is refused with
 * a log line while the last good policy stays in force.
 */
export function watchPolicyFile(path: string, log: Logger, intervalMs: number): PolicyFile {
  let policy = readPolicyFile(path);
  log.info("route policy loaded", { path, rules: policy.rules.length });
  const reload = () => {
    try {
      policy = readPolicyFile(path);
      log.info("route policy reloaded", { path, rules: policy.rules.length });
    } catch (error) {
      log.error("route policy refused; the last good policy stays in force", {
        path,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  };
  watchFile(path, { interval: intervalMs, persistent: false }, (current, previous) => {
    if (
      current.mtimeMs !== previous.mtimeMs ||
      current.size !== previous.size ||
      current.ino !== previous.ino
    ) {
      reload();
    }
  });
  return {
    current: () => policy,
    reload,
    close: () => unwatchFile(path),
  };
}
