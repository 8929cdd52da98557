import { Redis } from "ioredis";
import { redactedUrl } from "../database-url.js";
import type { GlobalRateAnswer, GlobalRateWindows, RateTerms } from "../domain/global-rate.js";
import { LEASE_MAX_UNITS, LEASE_MIN_UNITS } from "../domain/limit-lease.js";
import { bucketWidthMs } from "../domain/rate-limit.js";
import type { Logger } from "../log.js";
import { CONSUME_SCRIPT, RELEASE_SCRIPT } from "./rate-window-scripts.js";

/** How long one decision waits for Redis before it is decided locally instead. */
export const REDIS_ANSWER_TIMEOUT_MS = 250;
/** How long start-up waits for Redis before it serves with local limits (and goes on connecting). */
export const REDIS_CONNECT_TIMEOUT_MS = 2000;
const FIRST_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 5000;

/** The shared windows and their connection; `close` once no more decisions will come. */
export interface RedisRateWindows extends GlobalRateWindows {
  close(): Promise<void>;
}

/** Options of openRedisRateWindows. */
export interface RedisRateWindowsOptions {
  readonly log: Logger;
  /** Prefix of every key this server writes (tests use one per run). */
  readonly prefix?: string;
  /** Told each time the windows become available or unavailable. */
  readonly onChange?: (available: boolean) => void;
}

interface ScriptCommands {
  kwRateConsume(key: string, ...args: (string | number)[]): Promise<number[]>;
  kwRateRelease(key: string, bucket: string, units: number): Promise<number>;
}

/**
 * Connects to Redis (KEYWARD_REDIS_URL) for the rate windows every replica shares: one atomic script per
 * decision that is not answered from a reservation (domain/global-limit-gate.ts). A call never queues
 * while the connection is down and waits at most REDIS_ANSWER_TIMEOUT_MS, so Redis's trouble costs a
 * decision a local answer, never a hang. The connection is retried with backoff for as long as the server
 * runs; each change between available and unavailable is logged once (the URL's password never is).
 */
export async function openRedisRateWindows(
  url: string,
  options: RedisRateWindowsOptions,
): Promise<RedisRateWindows> {
  const { log } = options;
  const prefix = options.prefix ?? "keyward:rate:";
  const redis = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: REDIS_ANSWER_TIMEOUT_MS,
    connectTimeout: REDIS_CONNECT_TIMEOUT_MS,
    enableAutoPipelining: true,
    retryStrategy: (attempt) => Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** Math.min(attempt, 10)),
  });
  redis.defineCommand("kwRateConsume", { lua: CONSUME_SCRIPT, numberOfKeys: 1 });
  redis.defineCommand("kwRateRelease", { lua: RELEASE_SCRIPT, numberOfKeys: 1 });
  const scripts = redis as unknown as ScriptCommands;
  const shown = redactedUrl(url);
  let available = false;
  let closing = false;
  const releasing = new Set<Promise<unknown>>();

  const change = (now: boolean, fields: Record<string, unknown> = {}) => {
    if (now === available || closing) return;
    available = now;
    if (now) log.info("rate limits are global again: Redis answers", { redis: shown });
    else
      log.warn(
        "rate limits are local: Redis cannot be reached; each replica allows limit ÷ KEYWARD_REPLICAS",
        {
          redis: shown,
          ...fields,
        },
      );
    options.onChange?.(now);
  };
  redis.on("ready", () => change(true));
  // Every failed attempt reports an error; the change is logged once.
  redis.on("error", (error: Error) => change(false, { error: error.message }));
  redis.on("close", () => change(false));

  try {
    await redis.connect();
  } catch (error) {
    // Served with local limits meanwhile; ioredis goes on reconnecting (retryStrategy).
    available = true; // so that the change below is logged
    change(false, { error: error instanceof Error ? error.message : String(error) });
  }

  const keyOf = (keyId: string, rate: RateTerms) => `${prefix}${keyId}:${rate.windowMs}`;

  return {
    get available() {
      return available;
    },
    async consume(keyId, rate, cost, dryRun, reserveDivisor): Promise<GlobalRateAnswer> {
      const reply = await scripts.kwRateConsume(
        keyOf(keyId, rate),
        rate.limit,
        rate.windowMs,
        bucketWidthMs(rate.windowMs),
        cost,
        dryRun ? 1 : 0,
        reserveDivisor,
        LEASE_MIN_UNITS,
        LEASE_MAX_UNITS,
      );
      const [allowed, remaining, resetInMs, retry, reserved, reservedForMs, bucket] = reply as [
        number,
        number,
        number,
        number,
        number,
        number,
        number,
      ];
      return {
        allowed: allowed === 1,
        remaining,
        resetInMs,
        retryAfterMs: retry < 0 ? undefined : retry,
        reserved,
        reservedForMs,
        bucket,
      };
    },
    release(keyId, rate, bucket, units) {
      if (!available) return; // the units stay counted until their sub-bucket leaves the window
      const sent = scripts.kwRateRelease(keyOf(keyId, rate), String(bucket), units).catch(() => 0);
      releasing.add(sent);
      void sent.then(() => releasing.delete(sent));
    },
    async close() {
      await Promise.all(releasing);
      closing = true;
      redis.disconnect();
    },
  };
}
