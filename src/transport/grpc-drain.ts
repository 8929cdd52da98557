import type * as grpc from "@grpc/grpc-js";

/** How often the drain looks for sessions that grpc-js still waits for. */
const POLL_MS = 50;

/**
 * grpc-js's graceful shutdown, made unable to hang. tryShutdown (grpc-js 1.14) loses its callback when a
 * session is already destroyed but its "close" event has not fired yet: it skips only sessions that are
 * `closed`, and Node's Http2Session.close() returns without registering the callback on a destroyed one.
 * A client that disconnects just before SIGTERM does exactly that, and forceShutdown cannot help (the
 * session is gone already). So the drain also ends once grpc-js holds no session that is still alive,
 * read from its private session table; if a release renames that table, the callback and the caller's
 * timeout remain. Resolves when the server has stopped; never rejects.
 */
export function shutDownGrpc(server: grpc.Server): Promise<void> {
  return new Promise<void>((resolve) => {
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearInterval(poll);
      resolve();
    };
    const poll = setInterval(() => {
      if (liveSessions(server) === 0) {
        server.forceShutdown(); // nothing is left to cut: it only closes what grpc-js still tracks
        finish();
      }
    }, POLL_MS);
    server.tryShutdown(finish);
  });
}

interface SessionTable {
  http2Servers?: Map<unknown, { sessions?: Set<{ destroyed?: boolean }> }>;
}

/** Sessions not yet destroyed, or undefined when grpc-js's table cannot be read. */
export function liveSessions(server: grpc.Server): number | undefined {
  const servers = (server as unknown as SessionTable).http2Servers;
  if (!(servers instanceof Map)) return undefined;
  let live = 0;
  for (const { sessions } of servers.values()) {
    if (!(sessions instanceof Set)) return undefined;
    for (const session of sessions) if (session.destroyed !== true) live++;
  }
  return live;
}
