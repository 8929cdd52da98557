import { connect, createServer, type Socket } from "node:net";

/**
 * A TCP proxy in front of the test's PostgreSQL server that can refuse a replica's LISTEN connection
 * alone: it reads the first message of each connection (the startup message, which names the
 * application) and, while `blocking`, closes those named `keyward-listen-…`, while the pool's
 * connections pass. Lets a test hold a replica's LISTEN connection down without an outage.
 */
export interface ListenBlockingProxy {
  /** The database URL through the proxy. */
  readonly url: string;
  blocking: boolean;
  close(): Promise<void>;
}

export async function listenBlockingProxy(databaseUrl: string): Promise<ListenBlockingProxy> {
  const target = new URL(databaseUrl);
  const sockets = new Set<Socket>();
  const proxy = { blocking: false };
  const server = createServer((client) => {
    sockets.add(client);
    client.on("close", () => sockets.delete(client));
    client.on("error", () => undefined);
    client.once("data", (first) => {
      if (proxy.blocking && first.includes("keyward-listen-")) {
        client.destroy();
        return;
      }
      const upstream = connect(Number(target.port || 5432), target.hostname);
      sockets.add(upstream);
      upstream.on("close", () => {
        sockets.delete(upstream);
        client.destroy();
      });
      upstream.on("error", () => undefined);
      client.on("close", () => upstream.destroy());
      upstream.write(first);
      client.pipe(upstream);
      upstream.pipe(client);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const url = new URL(databaseUrl);
  url.hostname = "127.0.0.1";
  url.port = String(typeof address === "object" && address !== null ? address.port : 0);
  return {
    url: url.toString(),
    get blocking() {
      return proxy.blocking;
    },
    set blocking(value) {
      proxy.blocking = value;
    },
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
