import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../src/log.js";
import { openRedisRateWindows, type RedisRateWindows } from "../../src/store/redis-rate-windows.js";
import { redisReachable, TEST_REDIS_URL, testRedisPrefix } from "../support/redis-server.js";

// The shared rate window's script (store/rate-window-scripts.ts) on the real Redis server: the limit holds
// in any window, denials say how long to wait, reservations are counted and given back, and a server
// that cannot be reached fails a call at once instead of hanging it.

const reachable = await redisReachable();
const logs: string[] = [];
const log = createLogger("debug", (line) => logs.push(line));

describe.skipIf(!reachable)("shared rate windows in Redis", () => {
  const space = testRedisPrefix();
  let windows: RedisRateWindows;
  beforeAll(async () => {
    windows = await openRedisRateWindows(TEST_REDIS_URL, { log, prefix: space.prefix });
  });
  afterAll(async () => {
    await windows?.close();
    await space.drop();
  });

  it("allows the limit, then denies with the wait until the oldest count leaves the window", async () => {
    expect(windows.available).toBe(true);
    const rate = { limit: 3, windowMs: 600 };
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(await windows.consume("key_a", rate, 1, false, 0));
    expect(answers.map((a) => a.allowed)).toEqual([true, true, true, false]);
    expect(answers.map((a) => a.remaining)).toEqual([2, 1, 0, 0]);
    const denied = answers[3];
    expect(denied?.retryAfterMs).toBeGreaterThan(0);
    expect(denied?.retryAfterMs).toBeLessThanOrEqual(600 + 10);
    expect(denied?.reserved).toBe(0);
    await sleep((denied?.retryAfterMs ?? 0) + 5);
    expect((await windows.consume("key_a", rate, 1, false, 0)).allowed).toBe(true);
  });

  it("counts nothing on a dry run, and never allows a cost above the limit", async () => {
    const rate = { limit: 2, windowMs: 60_000 };
    expect((await windows.consume("key_b", rate, 2, true, 0)).allowed).toBe(true);
    expect((await windows.consume("key_b", rate, 2, false, 0)).remaining).toBe(0);
    const over = await windows.consume("key_c", rate, 3, false, 0);
    expect(over.allowed).toBe(false);
    expect(over.retryAfterMs).toBeUndefined();
  });

  it("reserves room ÷ divisor beyond the cost, and a release gives the unspent units back", async () => {
    const rate = { limit: 1000, windowMs: 60_000 };
    const first = await windows.consume("key_d", rate, 1, false, 8);
    expect(first.reserved).toBe(Math.floor(999 / 8));
    expect(first.reservedForMs).toBeGreaterThan(0);
    expect(first.reservedForMs).toBeLessThanOrEqual(1000); // one sub-bucket of a one-minute window
    const second = await windows.consume("key_d", rate, 1, true, 0);
    expect(second.remaining).toBe(1000 - 1 - first.reserved - 1);
    windows.release("key_d", rate, first.bucket, first.reserved);
    await sleep(50);
    expect((await windows.consume("key_d", rate, 1, true, 0)).remaining).toBe(1000 - 1 - 1);
    // Never more than the sub-bucket holds.
    windows.release("key_d", rate, first.bucket, 10_000);
    await sleep(50);
    expect((await windows.consume("key_d", rate, 1, true, 0)).remaining).toBe(999);
  });

  it("decides concurrent requests from two connections against one window: exactly the limit passes", async () => {
    const other = await openRedisRateWindows(TEST_REDIS_URL, { log, prefix: space.prefix });
    try {
      const rate = { limit: 10, windowMs: 60_000 };
      const calls = Array.from({ length: 40 }, (_, i) =>
        (i % 2 === 0 ? windows : other).consume("key_e", rate, 1, false, 0),
      );
      const answers = await Promise.all(calls);
      expect(answers.filter((a) => a.allowed)).toHaveLength(10);
    } finally {
      await other.close();
    }
  });

  it("expires an idle key's window: Redis holds nothing for it after a window", async () => {
    const rate = { limit: 5, windowMs: 60_000 };
    await windows.consume("key_f", rate, 1, false, 0);
    const redis = new Redis(TEST_REDIS_URL);
    try {
      const ttl = await redis.pttl(`${space.prefix}key_f:60000`);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(60_000 + 2 * 1000);
    } finally {
      redis.disconnect();
    }
  });
});

describe("Redis that cannot be reached", () => {
  it("starts unavailable, says so once without the password, and fails a call at once", async () => {
    const seen: boolean[] = [];
    logs.length = 0;
    const windows = await openRedisRateWindows("redis://:hunter2secret@127.0.0.1:1", {
      log,
      onChange: (available) => seen.push(available),
    });
    try {
      expect(windows.available).toBe(false);
      await expect(windows.consume("key_x", { limit: 1, windowMs: 1000 }, 1, false, 0)).rejects.toThrow();
      const lines = logs.filter((line) => line.includes("rate limits are local"));
      expect(lines).toHaveLength(1);
      expect(logs.join("\n")).not.toContain("hunter2secret");
      expect(seen).toEqual([false]);
    } finally {
      await windows.close();
    }
  });
});
