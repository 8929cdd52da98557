import { afterAll, afterEach, beforeAll, beforeEach } from "vitest";
import { connectClients, type GrpcClients, grpcClients } from "./clients.js";
import { type TempDatabase, tempDatabase } from "./databases.js";
import {
  bootstrap,
  bootstrapGlobal,
  startTestServer,
  type TestClock,
  type TestServer,
} from "./start-server.js";

// One fixture for the in-process server, after connect-es's useNodeServer
// (packages/connect-node/src/use-node-server-helper.spec.ts): started before the tests on ephemeral
// ports with a temporary database of the run's engine (an SQLite file, or a PostgreSQL schema: see
// databases.ts) and an admin key, and on teardown its clients are closed and the
// server stopped, failing when the drain had to cut a call that was still open.

export interface UseServerOptions {
  /** KEYWARD_* settings; a function when they name files made by an earlier hook (certificates, policies). */
  readonly env?: Record<string, string> | (() => Record<string, string>);
  readonly clock?: TestClock;
  /** The workspace of `admin`; "default" unless the tests need one of their own. */
  readonly workspace?: string;
  /** A new server for each test instead of one for every test of the enclosing describe block (or file). */
  readonly each?: boolean;
}

/** Anything the fixture closes before the server stops. */
export interface Closeable {
  close(): void;
}

/** The running server's fields (valid inside the tests and later hooks), with clients it cleans up. */
export interface ServerFixture extends TestServer {
  /** An admin key of `options.workspace`, written as `keyward bootstrap` writes it. */
  readonly admin: string;
  /** Connect clients speaking gRPC to the grpc-js listener, on a connection of their own. */
  clients(bearer?: string, userAgent?: string): GrpcClients;
  /** Connect clients speaking the Connect protocol to the HTTP listener. */
  connectClients(bearer?: string, useBinaryFormat?: boolean): ReturnType<typeof connectClients>;
  /** Has the teardown close `client` before the server stops; returns it. */
  own<T extends Closeable>(client: T): T;
  /** Another workspace admin key, as `keyward bootstrap --workspace` writes it. */
  bootstrap(workspace: string): Promise<string>;
  /** A global admin key, as `keyward bootstrap --global` writes it. */
  bootstrapGlobal(): Promise<string>;
  /** Closes the clients, stops the server and starts it again on the same database and clock. */
  restart(): Promise<void>;
}

/**
 * Registers hooks that start a server before the tests of the enclosing describe block (or file, or
 * each test with `each`) and stop it after them, and returns the fixture the tests use.
 * `stop()` begins the drain at once, for tests of the drain itself; the teardown stops it anyway.
 */
export function useServer(options: UseServerOptions = {}): ServerFixture {
  let running: TestServer | undefined;
  let admin: string | undefined;
  let temp: TempDatabase | undefined;
  let owned: Closeable[] = [];

  const current = (): TestServer => {
    if (running === undefined) throw new Error("useServer: the server runs only while its tests do");
    return running;
  };
  const start = (database: string, clock: TestClock | undefined) => {
    const env = typeof options.env === "function" ? options.env() : options.env;
    return startTestServer({
      database,
      ...(clock !== undefined && { clock }),
      ...(env !== undefined && { env }),
    });
  };
  const closeClients = () => {
    for (const client of owned) client.close();
    owned = [];
  };
  const stopCleanly = async (server: TestServer) => {
    closeClients();
    await server.stop();
    // The drain waited for every connection; a cut call means a test left one open (or the server hangs).
    const cut = server.logs.find((line) => line.includes("drain timed out"));
    if (cut !== undefined) throw new Error(`the drain had to cut calls still open: ${cut}`);
  };

  const setUp = async () => {
    temp = await tempDatabase();
    running = await start(temp.url, options.clock);
    admin = await bootstrap(running, options.workspace);
  };
  const tearDown = async () => {
    const server = running;
    running = undefined;
    try {
      if (server !== undefined) await stopCleanly(server);
    } finally {
      await temp?.cleanup();
      temp = undefined;
    }
  };
  if (options.each) {
    beforeEach(setUp);
    afterEach(tearDown);
  } else {
    beforeAll(setUp);
    afterAll(tearDown);
  }

  const own = <T extends Closeable>(client: T): T => {
    owned.push(client);
    return client;
  };
  return {
    get keyward() {
      return current().keyward;
    },
    get grpcAddress() {
      return current().grpcAddress;
    },
    get httpUrl() {
      return current().httpUrl;
    },
    get database() {
      return current().database;
    },
    get clock() {
      return current().clock;
    },
    get logs() {
      return current().logs;
    },
    get admin() {
      current();
      return admin as string;
    },
    stop: () => current().stop(),
    clients: (bearer, userAgent) => own(grpcClients(current().grpcAddress, bearer, userAgent)),
    connectClients: (bearer, useBinaryFormat) =>
      own(connectClients(current().httpUrl, bearer, useBinaryFormat)),
    own,
    bootstrap: (workspace) => bootstrap(current(), workspace),
    bootstrapGlobal: () => bootstrapGlobal(current()),
    async restart() {
      const server = current();
      running = undefined;
      await stopCleanly(server);
      running = await start(server.database, server.clock);
    },
  };
}
