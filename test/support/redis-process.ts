import { type ChildProcess, spawn } from "node:child_process";
import { Redis } from "ioredis";
import { freePort } from "./free-port.js";

// A redis-server of a test's own, on a loopback port, that the test can stop and start again (a Redis
// outage and its end, seen by a real Keyward server). Nothing is saved to disk.

/** A running redis-server; `stop` ends it, `start` runs it again on the same port. */
export interface RedisProcess {
  readonly url: string;
  stop(): Promise<void>;
  start(): Promise<void>;
}

export async function startRedisProcess(): Promise<RedisProcess> {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn(
      "redis-server",
      ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
      { stdio: "ignore" },
    );
    // Bounded: up to 5 s for it to answer PING.
    for (let i = 0; i < 100; i++) {
      const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      redis.on("error", () => undefined);
      try {
        await redis.connect();
        await redis.ping();
        return;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 50));
      } finally {
        redis.disconnect();
      }
    }
    throw new Error(`redis-server did not answer on port ${port}`);
  };
  await start();
  return {
    url,
    start,
    async stop() {
      const running = child;
      if (running === undefined || running.exitCode !== null) return;
      const exited = new Promise((resolve) => running.once("exit", resolve));
      running.kill("SIGKILL");
      await exited;
    },
  };
}
