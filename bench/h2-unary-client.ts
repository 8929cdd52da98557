import net from "node:net";
import { encodeHeaderBlock, HpackDecoder } from "./hpack.js";

// A minimal HTTP/2 client (RFC 9113) for the Node load generators (bench/open-loop.ts and
// bench/loadgen.ts): a unary gRPC request with constant headers, sent again and again on new
// streams of one TCP connection, with the same body or a different one per call. node:http2's
// client builds a Duplex stream and more per call: at 6,000 calls/s that garbage cost it a 5–10 ms
// GC pause every second or so, and about 100 µs of CPU per call, which capped a closed-loop
// generator below the servers it drove. Here a call is a frame write and a small record.
// It speaks what these calls need: the preface and SETTINGS; HEADERS + DATA (END_STREAM) per call;
// reading HEADERS/CONTINUATION (HPACK), DATA, RST_STREAM, SETTINGS, PING and GOAWAY; WINDOW_UPDATE
// both ways (its own receive windows are opened wide at the start and topped up, and its DATA
// waits for the server's connection window, counted as a blocked send).

const DATA = 0;
const HEADERS = 1;
const RST_STREAM = 3;
const SETTINGS = 4;
const PING = 6;
const GOAWAY = 7;
const WINDOW_UPDATE = 8;
const CONTINUATION = 9;
const END_STREAM = 0x1;
const ACK = 0x1;
const END_HEADERS = 0x4;
const PADDED = 0x8;
const PRIORITY = 0x20;
const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");
const MAX_WINDOW = 2 ** 31 - 1;
const DEFAULT_WINDOW = 65_535;

/** How a call ended: the answer's status headers, its DATA, or why there is no answer. */
export interface UnaryAnswer {
  readonly httpStatus: string | undefined;
  readonly grpcStatus: string | undefined;
  readonly grpcMessage: string | undefined;
  readonly body: Buffer | undefined;
  /** Set when the stream was reset or the connection failed or went away. */
  readonly error: string | undefined;
}

/** Gets the answer and the performance.now() at which its last frame was read. */
export type AnswerCallback = (answer: UnaryAnswer, endedAt: number) => void;

/** The request every call sends: path, extra headers, and the body (one gRPC frame) unless a call brings its own. */
export interface UnaryRequest {
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
}

export interface UnaryOptions {
  /**
   * Sends made while answers are being read go out together in one write (one system call) after
   * the read: cheaper per call, for a closed loop. Off, each send is written at once (an open loop,
   * whose sends must leave on time).
   */
  readonly batchWrites?: boolean;
}

export interface UnaryConnection {
  /**
   * Sends the request on a new stream, with `body` instead of the request's if given (at most
   * 16,384 bytes); `done` is called once, never synchronously.
   */
  send(done: AnswerCallback, body?: Buffer): void;
  /** Sends that had to wait for the server's flow-control window (expected: none). */
  blockedSends(): number;
  close(): void;
}

interface Call {
  httpStatus: string | undefined;
  grpcStatus: string | undefined;
  grpcMessage: string | undefined;
  body: Buffer | undefined;
  error: string | undefined;
  readonly done: AnswerCallback;
}

function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(stream, 5);
  return Buffer.concat([header, payload]);
}

function uint32(value: number): Buffer {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32BE(value);
  return bytes;
}

/** Connects to host:port and resolves once the server's SETTINGS have arrived. */
export function connectUnary(
  target: string,
  request: UnaryRequest,
  options: UnaryOptions = {},
): Promise<UnaryConnection> {
  const colon = target.lastIndexOf(":");
  const block = encodeHeaderBlock({
    ":method": "POST",
    ":scheme": "http",
    ":path": request.path,
    ":authority": target,
    ...request.headers,
  });
  // Both fit one frame of the smallest size a server may allow, and the body the smallest window.
  if (block.length > 16_384 || request.body.length > 16_384) throw new Error("request too large");
  const headersFrame = frame(HEADERS, END_HEADERS, 0, block);
  /** One write per call: the HEADERS frame (a constant) and a DATA frame, both on `stream`. */
  const callFrames = (stream: number, body: Buffer) => {
    const bytes = Buffer.allocUnsafe(headersFrame.length + 9 + body.length);
    headersFrame.copy(bytes);
    bytes.writeUInt32BE(stream, 5);
    const at = headersFrame.length;
    bytes.writeUIntBE(body.length, at, 3);
    bytes[at + 3] = DATA;
    bytes[at + 4] = END_STREAM;
    bytes.writeUInt32BE(stream, at + 5);
    body.copy(bytes, at + 9);
    return bytes;
  };
  const socket = net.connect({
    host: target.slice(0, colon),
    port: Number(target.slice(colon + 1)),
    noDelay: true,
  });
  const decoder = new HpackDecoder();
  const calls = new Map<number, Call>();
  let nextStream = 1;
  let sendWindow = DEFAULT_WINDOW;
  const blocked: { bytes: Buffer; size: number }[] = [];
  let blockedSends = 0;
  let received = 0;
  let failure: string | undefined;
  let pending: Buffer | undefined;
  // A header block split over CONTINUATION frames: its stream, fragments, and END_STREAM.
  let continued: { stream: number; fragments: Buffer[]; endStream: boolean } | undefined;

  const finish = (stream: number, call: Call) => {
    calls.delete(stream);
    call.done(call, performance.now());
  };
  const fail = (reason: string) => {
    failure ??= reason;
    for (const [stream, call] of calls) {
      call.error = reason;
      finish(stream, call);
    }
    socket.destroy();
  };

  const onHeaders = (stream: number, fields: [string, string][], endStream: boolean) => {
    const call = calls.get(stream);
    if (call === undefined) return;
    for (const [name, value] of fields) {
      if (name === ":status") call.httpStatus = value;
      else if (name === "grpc-status") call.grpcStatus = value;
      else if (name === "grpc-message") call.grpcMessage = value;
    }
    if (endStream) finish(stream, call);
  };

  const onFrame = (type: number, flags: number, stream: number, payload: Buffer) => {
    if (continued !== undefined && type !== CONTINUATION) throw new Error("expected CONTINUATION");
    switch (type) {
      case DATA: {
        received += payload.length;
        if (received > 2 ** 30) {
          socket.write(frame(WINDOW_UPDATE, 0, 0, uint32(received)));
          received = 0;
        }
        const call = calls.get(stream);
        if (call === undefined) return;
        const data = flags & PADDED ? payload.subarray(1, payload.length - (payload[0] as number)) : payload;
        call.body = call.body === undefined ? data : Buffer.concat([call.body, data]);
        if (flags & END_STREAM) finish(stream, call);
        return;
      }
      case HEADERS: {
        let start = flags & PADDED ? 1 : 0;
        const end = payload.length - (flags & PADDED ? (payload[0] as number) : 0);
        if (flags & PRIORITY) start += 5;
        const fragment = payload.subarray(start, end);
        if (flags & END_HEADERS) onHeaders(stream, decoder.decode(fragment), (flags & END_STREAM) !== 0);
        else continued = { stream, fragments: [fragment], endStream: (flags & END_STREAM) !== 0 };
        return;
      }
      case CONTINUATION: {
        if (continued?.stream !== stream) throw new Error("unexpected CONTINUATION");
        continued.fragments.push(payload);
        if (flags & END_HEADERS) {
          const { fragments, endStream } = continued;
          continued = undefined;
          onHeaders(stream, decoder.decode(Buffer.concat(fragments)), endStream);
        }
        return;
      }
      case RST_STREAM: {
        const call = calls.get(stream);
        if (call === undefined) return;
        call.error = `RST_STREAM ${payload.readUInt32BE(0)}`;
        finish(stream, call);
        return;
      }
      case SETTINGS:
        if (!(flags & ACK)) socket.write(frame(SETTINGS, ACK, 0, Buffer.alloc(0)));
        return;
      case PING:
        if (!(flags & ACK)) socket.write(frame(PING, ACK, 0, payload));
        return;
      case GOAWAY:
        fail(`GOAWAY ${payload.readUInt32BE(4)} after stream ${payload.readUInt32BE(0) & MAX_WINDOW}`);
        return;
      case WINDOW_UPDATE:
        if (stream !== 0) return; // stream windows: one small DATA frame per stream never exhausts them
        sendWindow += payload.readUInt32BE(0) & MAX_WINDOW;
        while (blocked.length > 0 && sendWindow >= (blocked[0]?.size as number)) {
          const { bytes, size } = blocked.shift() as { bytes: Buffer; size: number };
          sendWindow -= size;
          socket.write(bytes);
        }
        return;
    }
  };

  socket.on("data", (chunk: Buffer) => {
    let bytes = pending === undefined ? chunk : Buffer.concat([pending, chunk]);
    let at = 0;
    if (options.batchWrites) socket.cork();
    try {
      while (bytes.length - at >= 9) {
        const length = bytes.readUIntBE(at, 3);
        if (bytes.length - at < 9 + length) break;
        const payload = bytes.subarray(at + 9, at + 9 + length);
        onFrame(
          bytes[at + 3] as number,
          bytes[at + 4] as number,
          bytes.readUInt32BE(at + 5) & MAX_WINDOW,
          payload,
        );
        at += 9 + length;
      }
    } catch (error) {
      fail(`protocol error: ${(error as Error).message}`);
      return;
    } finally {
      if (options.batchWrites) socket.uncork();
    }
    bytes = bytes.subarray(at);
    pending = bytes.length > 0 ? bytes : undefined;
  });
  socket.on("error", (error) => fail(`connection error: ${error.message}`));
  socket.on("close", () => fail("connection closed"));

  const settings = Buffer.alloc(12);
  settings.writeUInt16BE(0x2, 0); // ENABLE_PUSH
  settings.writeUInt32BE(0, 2);
  settings.writeUInt16BE(0x4, 6); // INITIAL_WINDOW_SIZE of our streams
  settings.writeUInt32BE(MAX_WINDOW, 8);
  socket.write(
    Buffer.concat([
      PREFACE,
      frame(SETTINGS, 0, 0, settings),
      frame(WINDOW_UPDATE, 0, 0, uint32(MAX_WINDOW - DEFAULT_WINDOW)),
    ]),
  );

  const connection: UnaryConnection = {
    send(done, body = request.body) {
      const call: Call = {
        httpStatus: undefined,
        grpcStatus: undefined,
        grpcMessage: undefined,
        body: undefined,
        error: failure ?? (body.length > 16_384 ? "request body too large" : undefined),
        done,
      };
      if (call.error !== undefined) {
        setImmediate(() => done(call, performance.now()));
        return;
      }
      const stream = nextStream;
      nextStream += 2;
      calls.set(stream, call);
      const bytes = callFrames(stream, body);
      if (sendWindow >= body.length && blocked.length === 0) {
        sendWindow -= body.length;
        socket.write(bytes);
      } else {
        blockedSends++;
        blocked.push({ bytes, size: body.length });
      }
    },
    blockedSends: () => blockedSends,
    close: () => {
      failure ??= "closed by the client";
      socket.destroy();
    },
  };
  return new Promise((resolve, reject) => {
    const onFirst = () => {
      socket.off("error", reject);
      resolve(connection);
    };
    socket.once("error", reject);
    socket.once("close", () => reject(new Error(`${target} closed the connection`)));
    socket.once("data", onFirst); // the server's preface is its SETTINGS
  });
}
