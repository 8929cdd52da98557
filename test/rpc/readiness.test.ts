import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listenerName } from "../../src/cache/replica-listener.js";
import { TEST_DIALECT } from "../support/databases.js";
import { type ListenBlockingProxy, listenBlockingProxy } from "../support/listen-blocking-proxy.js";
import { createTestSchema, TEST_POSTGRES_URL, type TestSchema } from "../support/postgres-server.js";
import { useRawDatabase } from "../support/raw-sql.js";
import { startTestServer, type TestServer } from "../support/start-server.js";
import { useServer } from "../support/use-server.js";

// GET /readyz (transport/readiness.ts): 200 `ready` while the store answers its probe and, on
// PostgreSQL, the LISTEN connection is up; 503 with one line per failing part otherwise. The
// probe's result is reused for a second of the server's clock, which these tests advance.

async function readyz(httpUrl: string): Promise<{ status: number; body: string }> {
  const response = await fetch(`${httpUrl}/readyz`);
  return { status: response.status, body: await response.text() };
}

/** Asks until the answer has `status`, for up to timeoutMs; returns the last answer. */
async function untilStatus(httpUrl: string, status: number, timeoutMs: number) {
  const started = performance.now();
  let answer = await readyz(httpUrl);
  while (answer.status !== status && performance.now() - started < timeoutMs) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    answer = await readyz(httpUrl);
  }
  return answer;
}

describe("readiness and the store", () => {
  const server = useServer();
  const raw = useRawDatabase(server);

  it("answers 200 ready, 503 `store: unavailable` while the keys table is gone, and 200 once it is back", async () => {
    expect(await readyz(server.httpUrl)).toEqual({ status: 200, body: "ready\n" });

    await raw.exec("ALTER TABLE api_keys RENAME TO api_keys_away");
    try {
      // Within a second of the last probe its result is reused: no query per request.
      expect((await readyz(server.httpUrl)).status).toBe(200);
      server.clock.advance(1001);
      expect(await readyz(server.httpUrl)).toEqual({ status: 503, body: "store: unavailable\n" });
      // Liveness is not readiness: the process is still serving.
      expect((await fetch(`${server.httpUrl}/healthz`)).status).toBe(200);
    } finally {
      await raw.exec("ALTER TABLE api_keys_away RENAME TO api_keys");
    }
    server.clock.advance(1001);
    expect(await readyz(server.httpUrl)).toEqual({ status: 200, body: "ready\n" });
  });
});

describe.skipIf(TEST_DIALECT !== "postgres")("readiness and the LISTEN connection (PostgreSQL)", () => {
  let schema: TestSchema;
  /** The server reaches PostgreSQL through it, so that the test can keep its LISTEN connection down. */
  let proxy: ListenBlockingProxy;
  let server: TestServer;

  beforeAll(async () => {
    schema = await createTestSchema();
    proxy = await listenBlockingProxy(schema.url);
    server = await startTestServer({ database: proxy.url });
  });

  afterAll(async () => {
    await server?.stop();
    await proxy?.close();
    await schema?.drop();
  });

  /** Ends this process's LISTEN connection from the database side; returns how many were ended. */
  async function terminateListener(): Promise<number> {
    const client = new pg.Client({ connectionString: TEST_POSTGRES_URL });
    await client.connect();
    try {
      const { rows } = await client.query(
        "select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1",
        [listenerName()],
      );
      return rows.length;
    } finally {
      await client.end();
    }
  }

  it("answers 503 `invalidation: degraded` while the LISTEN connection is down, and 200 once it is back", async () => {
    expect(await readyz(server.httpUrl)).toEqual({ status: 200, body: "ready\n" });
    proxy.blocking = true; // reconnections are refused; the pool still reaches the database
    try {
      expect(await terminateListener()).toBeGreaterThanOrEqual(1);
      expect(await untilStatus(server.httpUrl, 503, 3000)).toEqual({
        status: 503,
        body: "invalidation: degraded\n",
      });
      expect(await (await fetch(`${server.httpUrl}/healthz`)).text()).toBe(
        "SERVING\ninvalidation: degraded\n",
      );
    } finally {
      proxy.blocking = false;
    }
    // The listener retries with backoff (5 s at most), then trusts again.
    expect(await untilStatus(server.httpUrl, 200, 10_000)).toEqual({ status: 200, body: "ready\n" });
  });
});
