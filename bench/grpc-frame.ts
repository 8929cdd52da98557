import http2 from "node:http2";

/** A gRPC length-prefixed message as it travels in a DATA frame: flag 0 (uncompressed), length, bytes. */
export function grpcFrame(message: Uint8Array): Buffer {
  const frame = Buffer.alloc(5 + message.byteLength);
  frame.writeUInt32BE(message.byteLength, 1);
  frame.set(message, 5);
  return frame;
}

/** The message of a response body holding exactly one uncompressed gRPC frame, else undefined. */
export function unframe(body: Buffer): Buffer | undefined {
  if (body.length < 5 || body[0] !== 0 || body.readUInt32BE(1) !== body.length - 5) return undefined;
  return body.subarray(5);
}

/** The headers every bench request carries, besides the path (h2load gets the same two with -H). */
export const GRPC_HEADERS = { "content-type": "application/grpc", te: "trailers" } as const;

/** What one raw call returned: HTTP status, gRPC status (trailer, or header for trailers-only) and body. */
export interface RawCall {
  readonly httpStatus: number;
  readonly grpcStatus: string | undefined;
  readonly grpcMessage: string | undefined;
  readonly body: Buffer;
}

/**
 * One unary call over a fresh HTTP/2 connection, without a gRPC library: used to
 * capture a server's real answer (its bytes become the echo server's constant).
 */
export function callOnce(
  address: string,
  path: string,
  frame: Buffer,
  headers: Readonly<Record<string, string>> = {},
): Promise<RawCall> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://${address}`);
    session.on("error", reject);
    const stream = session.request({ ":method": "POST", ":path": path, ...GRPC_HEADERS, ...headers });
    const chunks: Buffer[] = [];
    let httpStatus = 0;
    let grpcStatus: string | undefined;
    let grpcMessage: string | undefined;
    stream.on("response", (h) => {
      httpStatus = Number(h[":status"]);
      grpcStatus = h["grpc-status"] as string | undefined;
      grpcMessage = h["grpc-message"] as string | undefined;
    });
    stream.on("trailers", (t) => {
      grpcStatus = t["grpc-status"] as string | undefined;
      grpcMessage = t["grpc-message"] as string | undefined;
    });
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("error", reject);
    stream.on("close", () => {
      session.close();
      resolve({ httpStatus, grpcStatus, grpcMessage, body: Buffer.concat(chunks) });
    });
    stream.end(frame);
  });
}
