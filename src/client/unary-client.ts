import {
  create,
  type DescMethodUnary,
  type DescService,
  fromBinary,
  type MessageInitShape,
  type MessageShape,
  toBinary,
} from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";

/** Per call: a deadline other than the client's, and headers (metadata) to send. */
export interface CallOptions {
  readonly timeoutMs?: number;
  readonly headers?: Readonly<Record<string, string>>;
}

/** Every unary method of a generated service as `method(request, options?) → Promise<response>`. */
export type UnaryClient<S extends DescService> = {
  [K in keyof S["method"]]: S["method"][K] extends DescMethodUnary<infer I, infer O>
    ? (request: MessageInitShape<I>, options?: CallOptions) => Promise<MessageShape<O>>
    : never;
};

/** How the calls of a client behave. */
export interface UnaryClientOptions {
  /** Deadline of every call unless the call says otherwise. */
  readonly timeoutMs: number;
  /** Attempts after the first, for calls that fail UNAVAILABLE only. */
  readonly retries: number;
  /** Wait before the first retry; doubled for each next one. */
  readonly backoffMs: number;
  /** Metadata every call carries (an admin key as `authorization`). */
  readonly headers: Readonly<Record<string, string>>;
}

/**
 * A protobuf-es typed client of `service` over a grpc-js Client (one HTTP/2 channel, shared by the
 * services made on it). A call that fails UNAVAILABLE (the server restarting, a connection reset) is
 * tried again after a backoff, while its deadline allows; any other status, and any answer (a denial
 * is an answer), ends it. Messages are made with `create` and encoded with `toBinary`, as the server
 * reads them.
 */
export function unaryClient<S extends DescService>(
  channel: grpc.Client,
  service: S,
  options: UnaryClientOptions,
): UnaryClient<S> {
  const client: Record<string, unknown> = {};
  for (const method of service.methods) {
    if (method.methodKind !== "unary") continue;
    const path = `/${service.typeName}/${method.name}`;
    const serialize = (message: MessageShape<typeof method.input>) => {
      const bytes = toBinary(method.input, message);
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    };
    const deserialize = (bytes: Buffer) => fromBinary(method.output, bytes);
    client[method.localName] = async (
      request: MessageInitShape<typeof method.input>,
      call: CallOptions = {},
    ) => {
      const message = create(method.input, request);
      const deadline = Date.now() + (call.timeoutMs ?? options.timeoutMs);
      const metadata = new grpc.Metadata();
      for (const [name, value] of Object.entries({ ...options.headers, ...call.headers }))
        metadata.set(name, value);
      for (let attempt = 0; ; attempt++) {
        try {
          return await new Promise((resolve, reject) =>
            channel.makeUnaryRequest(
              path,
              serialize,
              deserialize,
              message,
              metadata,
              { deadline },
              (error, value) => (error ? reject(error) : resolve(value)),
            ),
          );
        } catch (error) {
          const wait = options.backoffMs * 2 ** attempt;
          const retry =
            (error as grpc.ServiceError).code === grpc.status.UNAVAILABLE &&
            attempt < options.retries &&
            Date.now() + wait < deadline;
          if (!retry) throw error;
          await new Promise((resolve) => setTimeout(resolve, wait));
        }
      }
    };
  }
  return client as UnaryClient<S>;
}
