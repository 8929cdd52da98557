import type { Config } from "../config.js";
import type { Clock } from "../domain/clock.js";
import { globalLimitGate } from "../domain/global-limit-gate.js";
import type { LimitBook } from "../domain/limit-book.js";
import { bookGate, type FlushProgress, type LeasingGate, type UsageReader } from "../domain/limit-gate.js";
import type { Logger } from "../log.js";
import { openRedisRateWindows } from "../store/redis-rate-windows.js";

/** The gate of the process that holds a server's limit book; `close` after the last decision. */
export interface ServerLimitGate extends LeasingGate {
  /** True while rate limits are enforced per replica because Redis cannot be reached (health). */
  local(): boolean;
  close(): Promise<void>;
}

/**
 * The limit gate over `book` for the process that holds it (a single process, or a cluster's primary):
 * with KEYWARD_REDIS_URL, a key's rate limit holds across every replica through Redis
 * (domain/global-limit-gate.ts), else on this server's book alone. `onLocal` hears each change of `local`.
 */
export async function serverLimitGate(
  config: Config,
  log: Logger,
  book: LimitBook,
  clock: Clock,
  read: UsageReader,
  flush: FlushProgress,
  onLocal?: (local: boolean) => void,
): Promise<ServerLimitGate> {
  const onBook = bookGate(book, clock, read, flush);
  if (config.redisUrl === undefined) return { ...onBook, local: () => false, close: async () => undefined };
  const windows = await openRedisRateWindows(config.redisUrl, {
    log,
    ...(onLocal && { onChange: (available: boolean) => onLocal(!available) }),
  });
  const gate = globalLimitGate(onBook, {
    windows,
    clock,
    replicas: config.replicas,
    countDenied: (keyId, limits) => book.countDenied(keyId, limits, clock.now()),
    take: (keyId, limits, units) => book.take(keyId, limits, units, clock.now()),
  });
  return {
    ...gate,
    async close() {
      await gate.close(); // reservations go back first
      await windows.close();
    },
  };
}
