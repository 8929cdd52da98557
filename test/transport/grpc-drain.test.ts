import { connect } from "node:http2";
import * as grpc from "@grpc/grpc-js";
import { expect, it, vi } from "vitest";
import { liveSessions, shutDownGrpc } from "../../src/transport/grpc-drain.js";

// A session destroyed before its "close" event fires (a client that hangs up just as SIGTERM arrives)
// made grpc-js's tryShutdown wait forever, and with it a cluster worker's drain. The race is made
// deterministic here by destroying the server's side of the session right before the shutdown.

async function serverWithOneSession() {
  const server = new grpc.Server();
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  const client = connect(`http://127.0.0.1:${port}`);
  client.on("error", () => {});
  await vi.waitFor(() => expect(liveSessions(server)).toBe(1));
  const table = (server as unknown as { http2Servers: Map<unknown, { sessions: Set<{ destroy(): void }> }> })
    .http2Servers;
  const [session] = [...table.values()].flatMap(({ sessions }) => [...sessions]);
  return { server, client, destroySession: () => session?.destroy() };
}

it("grpc-js's own tryShutdown never calls back for a session destroyed just before it", async () => {
  const { server, client, destroySession } = await serverWithOneSession();
  try {
    destroySession();
    const callback = vi.fn();
    server.tryShutdown(callback);
    // The session's close event has fired once grpc-js has dropped it from its table.
    await vi.waitFor(() => expect(liveSessions(server)).toBe(0));
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    // If this starts to fail, grpc-js fixed the race and shutDownGrpc's poll can go.
    expect(callback).not.toHaveBeenCalled();
  } finally {
    server.forceShutdown();
    client.destroy();
  }
});

it("shutDownGrpc stops such a server anyway", async () => {
  const { server, client, destroySession } = await serverWithOneSession();
  try {
    destroySession();
    await shutDownGrpc(server);
    expect(liveSessions(server)).toBe(0);
  } finally {
    client.destroy();
  }
});

it("shutDownGrpc lets a call in flight finish", async () => {
  const { server, client } = await serverWithOneSession();
  let answer: grpc.sendUnaryData<Buffer> | undefined;
  const identity = (value: Buffer) => value;
  server.addService(
    {
      hold: {
        path: "/test.Hold/Hold",
        requestStream: false,
        responseStream: false,
        requestSerialize: identity,
        requestDeserialize: identity,
        responseSerialize: identity,
        responseDeserialize: identity,
      },
    },
    { hold: (_call: unknown, callback: grpc.sendUnaryData<Buffer>) => (answer = callback) },
  );
  const stream = client.request({
    ":method": "POST",
    ":path": "/test.Hold/Hold",
    "content-type": "application/grpc",
    te: "trailers",
  });
  stream.on("error", () => {});
  stream.end(Buffer.alloc(5)); // one empty message
  await vi.waitFor(() => expect(answer).toBeDefined());
  let stopped = false;
  const stopping = shutDownGrpc(server).then(() => {
    stopped = true;
  });
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 20));
  expect(stopped).toBe(false); // the call is still open
  answer?.(null, Buffer.alloc(0));
  await stopping;
  expect(stopped).toBe(true);
  client.destroy();
});
