import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";

// The Redis server the tests use (issue 14's shared rate limits), and a key prefix of their own on it.

/** Where the Redis tests look for a server. */
export const TEST_REDIS_URL = process.env.KEYWARD_TEST_REDIS_URL ?? "redis://127.0.0.1:6379";

let probed: Promise<boolean> | undefined;

/**
 * Whether the server answers, asked once per test file. When it does not: one line saying so and how to
 * enable the tests (they are then skipped), or under CI (CI=true) an error: CI never skips them.
 */
export function redisReachable(): Promise<boolean> {
  probed ??= probe();
  return probed;
}

async function probe(): Promise<boolean> {
  const redis = new Redis(TEST_REDIS_URL, {
    lazyConnect: true,
    connectTimeout: 2000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  redis.on("error", () => undefined);
  try {
    await redis.connect();
    await redis.ping();
    return true;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    if (process.env.CI === "true")
      throw new Error(`Redis tests: no server at ${TEST_REDIS_URL} (${reason}); CI never skips them`);
    console.log(
      `skipped: Redis tests (no server at ${TEST_REDIS_URL}: ${reason}; set KEYWARD_TEST_REDIS_URL)`,
    );
    return false;
  } finally {
    redis.disconnect();
  }
}

/** A key prefix no other test run uses; `drop` deletes every key under it. */
export function testRedisPrefix(): { readonly prefix: string; drop(): Promise<void> } {
  const prefix = `kw_test_${randomBytes(6).toString("hex")}:`;
  return {
    prefix,
    async drop() {
      const redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 0 });
      try {
        const keys = await redis.keys(`${prefix}*`);
        if (keys.length > 0) await redis.del(...keys);
      } finally {
        redis.disconnect();
      }
    },
  };
}
