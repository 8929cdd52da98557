import net from "node:net";
import { encodeHeaderBlock, HpackDecoder } from "./hpack.js";

// A minimal HTTP/2 client (RFC 9113) for bench/open-loop.ts: one constant unary gRPC request, sent
// again and again on new streams of one TCP connection. node:http2's client builds a Duplex stream
// and more per call, and at 6,000 calls/s that garbage costs it a 5–10 ms GC pause every second or
// so: more than the p99 it is there to measure. Here a call is a frame write and a small record.
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

/** The request every call sends: path, extra headers, and the body (one gRPC frame). */
export interface UnaryRequest {
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
}

export interface UnaryConnection {
  /** Sends the request on a new stream; `done` is called once, never synchronously. */
  send(done: AnswerCallback): void;
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
export function connectUnary(target: string, request: UnaryRequest): Promise<UnaryConnection> {
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
  const template = Buffer.concat([
    frame(HEADERS, END_HEADERS, 0, block),
    frame(DATA, END_STREAM, 0, request.body),
  ]);
  const dataFrameAt = 9 + block.length;
  const socket = net.connect({
    host: target.slice(0, colon),
    port: Number(target.slice(colon + 1)),
    noDelay: true,
  });
  const decoder = new HpackDecoder();
  const calls = new Map<number, Call>();
  let nextStream = 1;
  let sendWindow = DEFAULT_WINDOW;
  const blocked: Buffer[] = [];
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
        while (blocked.length > 0 && sendWindow >= request.body.length) {
          sendWindow -= request.body.length;
          socket.write(blocked.shift() as Buffer);
        }
        return;
    }
  };

  socket.on("data", (chunk: Buffer) => {
    let bytes = pending === undefined ? chunk : Buffer.concat([pending, chunk]);
    let at = 0;
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
    send(done) {
      const call: Call = {
        httpStatus: undefined,
        grpcStatus: undefined,
        grpcMessage: undefined,
        body: undefined,
        error: failure,
        done,
      };
      if (failure !== undefined) {
        setImmediate(() => done(call, performance.now()));
        return;
      }
      const stream = nextStream;
      nextStream += 2;
      calls.set(stream, call);
      const bytes = Buffer.allocUnsafe(template.length);
      template.copy(bytes);
      bytes.writeUInt32BE(stream, 5);
      bytes.writeUInt32BE(stream, dataFrameAt + 5);
      if (sendWindow >= request.body.length && blocked.length === 0) {
        sendWindow -= request.body.length;
        socket.write(bytes);
      } else {
        blockedSends++;
        blocked.push(bytes);
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
