import { bootstrapAdmin } from "../../src/cli/bootstrap.js";
import { loadConfig } from "../../src/config.js";
import type { Clock } from "../../src/domain/clock.js";
import { type Keyward, startKeyward } from "../../src/keyward.js";
import { createLogger } from "../../src/log.js";
import { type TempDatabase, tempDatabase } from "./databases.js";

/** A clock the test moves forward by hand: expiry is tested without sleeping. */
export interface TestClock extends Clock {
  advance(ms: number): void;
}

export function testClock(): TestClock {
  let offset = 0;
  return {
    now: () => Date.now() + offset,
    advance(ms) {
      offset += ms;
    },
  };
}

export interface TestServer {
  readonly keyward: Keyward;
  /** `127.0.0.1:<port>` of the grpc-js listener. */
  readonly grpcAddress: string;
  /** `http://127.0.0.1:<port>` of the Connect listener. */
  readonly httpUrl: string;
  readonly database: string;
  readonly clock: TestClock;
  /** Every log line the server wrote. */
  readonly logs: string[];
  stop(): Promise<void>;
}

export interface TestServerOptions {
  /** Reuse a database (restart tests); a fresh temporary one otherwise (databases.ts, tempDatabase). */
  readonly database?: string;
  readonly env?: Record<string, string>;
  readonly clock?: TestClock;
}

/** Starts the real server in-process on ephemeral loopback ports with a real database of the run's engine. */
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const temp = options.database === undefined ? await tempDatabase() : undefined;
  const database = options.database ?? (temp as TempDatabase).url;
  const loaded = loadConfig({
    KEYWARD_LISTEN: "127.0.0.1:0",
    KEYWARD_HTTP_LISTEN: "127.0.0.1:0",
    KEYWARD_DATABASE: database,
    KEYWARD_DRAIN_TIMEOUT: "2s",
    KEYWARD_LOG_LEVEL: "debug",
    ...options.env,
  });
  if (!loaded.ok) throw new Error(loaded.error);
  const logs: string[] = [];
  const clock = options.clock ?? testClock();
  const keyward = await startKeyward(
    loaded.config,
    createLogger("debug", (line) => logs.push(line)),
    clock,
  ).catch(async (error: unknown) => {
    await temp?.cleanup();
    throw error;
  });
  return {
    keyward,
    grpcAddress: `127.0.0.1:${keyward.grpcPort}`,
    httpUrl: `http://127.0.0.1:${keyward.httpPort}`,
    database,
    clock,
    logs,
    async stop() {
      await keyward.stop();
      await temp?.cleanup();
    },
  };
}

/** Writes an admin key for a workspace straight into the server's store, as `keyward bootstrap` does. */
export async function bootstrap(server: { database: string }, workspace = "default"): Promise<string> {
  const issued = await bootstrapAdmin(
    { database: server.database, workspace, name: "test admin" },
    { now: Date.now },
  );
  if (!issued.ok) throw new Error(issued.error.message);
  return issued.value.secret;
}

/** Writes a global admin key (workspace keyward, keyward:superadmin), as `keyward bootstrap --global` does. */
export async function bootstrapGlobal(server: { database: string }): Promise<string> {
  const issued = await bootstrapAdmin(
    { database: server.database, workspace: "", name: "ops", global: true },
    { now: Date.now },
  );
  if (!issued.ok) throw new Error(issued.error.message);
  return issued.value.secret;
}
