import type {
  DescMethod,
  DescMethodBiDiStreaming,
  DescMethodServerStreaming,
  DescMethodUnary,
  DescService,
  MessageShape,
} from "@bufbuild/protobuf";
import type { MaybePromise } from "../domain/maybe-promise.js";

/** What a handler may know about its call, whichever transport carried it. */
export interface CallContext {
  /** First value of a request header (name in lower case), or undefined. */
  header(name: string): string | undefined;
  /** The caller's address, `ip:port`. */
  readonly peer: string;
  /** Aborts when the call is cancelled; created on first use (unary handlers rarely need it). */
  readonly signal: AbortSignal;
}

type Unary<M extends DescMethod> =
  M extends DescMethodUnary<infer I, infer O>
    ? (request: MessageShape<I>, context: CallContext) => MaybePromise<MessageShape<O>>
    : never;
type ServerStreaming<M extends DescMethod> =
  M extends DescMethodServerStreaming<infer I, infer O>
    ? (request: MessageShape<I>, context: CallContext) => AsyncIterable<MessageShape<O>>
    : never;
type BiDiStreaming<M extends DescMethod> =
  M extends DescMethodBiDiStreaming<infer I, infer O>
    ? (requests: AsyncIterable<MessageShape<I>>, context: CallContext) => AsyncIterable<MessageShape<O>>
    : never;

/** A handler typed by its generated method: written once, served by both transports. */
export type MethodHandler<M extends DescMethod> = M extends DescMethodUnary
  ? Unary<M>
  : M extends DescMethodServerStreaming
    ? ServerStreaming<M>
    : M extends DescMethodBiDiStreaming
      ? BiDiStreaming<M>
      : never;

/** Handlers for every method of a generated service. */
export type ServiceHandlers<S extends DescService> = {
  [K in keyof S["method"]]: MethodHandler<S["method"][K]>;
};

// biome-ignore lint/suspicious/noExplicitAny: the adapters only route; the types were checked in served().
export type AnyHandler = (input: any, context: CallContext) => any;

/** A service and its handlers, with the method types erased for the adapters. */
export interface ServedService {
  readonly service: DescService;
  readonly handlers: Readonly<Record<string, AnyHandler>>;
}

export function served<S extends DescService>(service: S, handlers: ServiceHandlers<S>): ServedService {
  return { service, handlers: handlers as unknown as Record<string, AnyHandler> };
}
