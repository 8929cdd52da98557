import { type ClientHttp2Session, connect, constants } from "node:http2";

// gRPC spoken by hand over node:http2, for frames no well-behaved client would send.

/** A raw HTTP/2 connection to a gRPC listener; errors are left to the streams to report. */
export function rawSession(grpcAddress: string): ClientHttp2Session {
  const session = connect(`http://${grpcAddress}`);
  session.on("error", () => {});
  return session;
}

/** A gRPC length-prefixed message; `length` may lie about the size that follows. */
export function grpcFrame(
  message: Uint8Array,
  options: { compressed?: boolean; length?: number } = {},
): Buffer {
  const frame = Buffer.alloc(5 + message.byteLength);
  frame.writeUInt8(options.compressed ? 1 : 0, 0);
  frame.writeUInt32BE(options.length ?? message.byteLength, 1);
  frame.set(message, 5);
  return frame;
}

/** How a raw call ended: the gRPC status if one came, else the HTTP/2 reset code. */
export interface RawOutcome {
  readonly grpcStatus: number | undefined;
  readonly grpcMessage: string;
  readonly rstCode: number | undefined;
  /** Body bytes the server let us write before the call ended. */
  readonly written: number;
}

export interface RawCallOptions {
  readonly headers?: Record<string, string>;
  /** Written first. */
  readonly body?: Buffer;
  /** Then this chunk, again and again, up to `streamBytes` in all (backpressure respected). */
  readonly filler?: Buffer;
  readonly streamBytes?: number;
  /** Leave the request open (no END_STREAM) after writing. */
  readonly keepOpen?: boolean;
  /** A call that has not ended by then fails the test: the server hung. */
  readonly timeoutMs?: number;
}

/** Sends one call on a raw session and waits for it to end, whichever way. */
export function rawCall(
  session: ClientHttp2Session,
  path: string,
  options: RawCallOptions = {},
): Promise<RawOutcome> {
  return new Promise((resolve, reject) => {
    const stream = session.request({
      ":method": "POST",
      ":path": path,
      "content-type": "application/grpc",
      te: "trailers",
      ...options.headers,
    });
    let grpcStatus: number | undefined;
    let grpcMessage = "";
    let written = 0;
    const readStatus = (headers: Record<string, unknown>) => {
      const message = headers["grpc-message"];
      if (typeof message === "string") grpcMessage = decodeURIComponent(message);
      if (headers["grpc-status"] === undefined) return;
      grpcStatus = Number(headers["grpc-status"]);
      // Answered: stop sending, as a client would (writes may be waiting for flow control).
      if (!stream.writableEnded) stream.close(constants.NGHTTP2_CANCEL);
    };
    stream.on("response", readStatus);
    stream.on("trailers", readStatus);
    stream.on("error", () => {});
    stream.resume();
    const timer = setTimeout(() => {
      stream.close(constants.NGHTTP2_CANCEL);
      reject(new Error(`${path}: no status within ${options.timeoutMs ?? 5000} ms`));
    }, options.timeoutMs ?? 5000);
    stream.on("close", () => {
      clearTimeout(timer);
      resolve({
        grpcStatus,
        grpcMessage,
        rstCode: grpcStatus === undefined ? stream.rstCode : undefined,
        written,
      });
    });
    const ended = () => stream.closed || stream.destroyed || grpcStatus !== undefined;
    const finish = () => {
      if (!options.keepOpen && !ended()) stream.end();
    };
    if (options.body !== undefined) {
      written += options.body.byteLength;
      stream.write(options.body);
    }
    const filler = options.filler;
    const limit = options.streamBytes ?? 0;
    if (filler === undefined) return finish();
    const pump = () => {
      while (written < limit && !ended()) {
        written += filler.byteLength;
        if (!stream.write(filler)) return void stream.once("drain", pump);
      }
      finish();
    };
    pump();
  });
}
