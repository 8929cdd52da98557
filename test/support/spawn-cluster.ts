import { expect } from "vitest";
import { type GrpcClients, grpcClients } from "./clients.js";
import {
  connectionsHeld,
  killGroup,
  type ServerProcess,
  servingPort,
  spawnServer,
  stopServer,
  waitForServing,
} from "./spawn-server.js";

/** A server of several workers (node:cluster) on a database of the test's, as withCluster starts it. */
export interface ClusterOptions {
  /** KEYWARD_WORKERS: how many workers, every one of which is waited for and handed connections. */
  readonly workers: number;
  /** KEYWARD_DATABASE: a URL of either engine (test/support/databases.ts, tempDatabase). */
  readonly database: string;
  /** How many client connections to open, each an HTTP/2 connection of its own. */
  readonly clients: number;
  /** More of the server's environment (KEYWARD_USAGE_FLUSH, …). */
  readonly env?: Readonly<Record<string, string>>;
}

export interface Cluster {
  readonly server: ServerProcess;
  readonly port: number;
  /** The workers' pids, in the order they logged that they serve. */
  readonly pids: readonly number[];
  /** Every one open, answered once and held by a worker; every worker holds at least one. */
  readonly clients: readonly GrpcClients[];
}

/**
 * Starts the server with `workers` workers on `database` (gRPC on a free port, no HTTP listener, in a
 * process group of its own), waits until every worker serves, opens `clients` connections and has
 * each answered once, so that node:cluster has handed it to a worker (expected: every worker holds
 * some), then hands them to `use`. Afterwards it closes them and stops the server with SIGTERM,
 * expecting exit code 0. Whatever happens, no process of the server outlives the call (killGroup).
 */
export async function withCluster(options: ClusterOptions, use: (cluster: Cluster) => Promise<void>) {
  const server = spawnServer(
    {
      KEYWARD_WORKERS: String(options.workers),
      KEYWARD_LISTEN: "127.0.0.1:0",
      KEYWARD_HTTP_LISTEN: "off",
      KEYWARD_DATABASE: options.database,
      ...options.env,
    },
    { processGroup: true },
  );
  const clients: GrpcClients[] = [];
  try {
    const port = await servingPort(server);
    const pids = await waitForServing(server, options.workers);
    for (let i = 0; i < options.clients; i++) clients.push(grpcClients(`127.0.0.1:${port}`));
    // A call without a key identifies none, so it is counted against no key and no limit.
    for (const client of clients)
      expect((await client.authorize.authorize({ apiKey: "" })).allowed).toBe(false);
    const held = connectionsHeld(pids, port);
    for (const pid of pids) expect(held.get(pid), `connections held by worker ${pid}`).toBeGreaterThan(0);
    await use({ server, port, pids, clients });
    for (const client of clients.splice(0)) client.close();
    expect(await stopServer(server), server.output()).toBe(0);
  } finally {
    for (const client of clients) client.close();
    await killGroup(server);
  }
}
