import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { grpcFrame, unframe } from "../../bench/grpc-frame.js";

/** What the server answers to one request body (a gRPC message): an answer message, or a gRPC error. */
export type Answer = { readonly message: Uint8Array } | { readonly grpcStatus: number };

export interface UnaryServer {
  /** host:port, as the generators take it. */
  readonly address: string;
  /** Every request's message, in the order they arrived. */
  readonly received: Buffer[];
  close(): Promise<void>;
}

/**
 * A real HTTP/2 server (node:http2, so its HPACK uses Huffman and the dynamic table) answering
 * unary gRPC calls the way grpc-js does: HEADERS, one DATA frame, trailers with grpc-status; an
 * error as a trailers-only answer. Each answer leaves after `delayMs`, for the tests to see real
 * latencies.
 */
export async function startUnaryServer(
  answer: (message: Buffer, index: number) => Answer,
  delayMs = 0,
): Promise<UnaryServer> {
  const received: Buffer[] = [];
  const server = http2.createServer();
  server.on("stream", (stream) => {
    const chunks: Buffer[] = [];
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("end", () => {
      const message = unframe(Buffer.concat(chunks)) ?? Buffer.alloc(0);
      const result = answer(message, received.length);
      received.push(message);
      setTimeout(() => {
        if (stream.destroyed) return;
        if ("grpcStatus" in result) {
          stream.respond(
            { ":status": 200, "content-type": "application/grpc", "grpc-status": String(result.grpcStatus) },
            { endStream: true },
          );
          return;
        }
        stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
        stream.once("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0", "grpc-message": "" }));
        stream.end(grpcFrame(result.message));
      }, delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    received,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
