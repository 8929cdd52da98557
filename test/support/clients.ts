import { Agent } from "node:http";
import {
  create,
  type DescMessage,
  fromBinary,
  type MessageInitShape,
  type MessageShape,
  toBinary,
} from "@bufbuild/protobuf";
import { type Client, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { Health } from "../../src/gen/grpc/health/v1/health_pb.js";
import { AuditService } from "../../src/gen/keyward/v1/audit_service_pb.js";
import { AuthorizeService } from "../../src/gen/keyward/v1/authorize_service_pb.js";
import { KeyService } from "../../src/gen/keyward/v1/key_service_pb.js";
import { WorkspaceService } from "../../src/gen/keyward/v1/workspace_service_pb.js";

/**
 * Typed Connect clients speaking gRPC to the grpc-js listener, one HTTP/2 connection per call of this
 * function, with the bearer key (and a user agent, when given) on every call. `close()` ends the
 * connection and any call still on it.
 */
export function grpcClients(grpcAddress: string, bearer?: string, userAgent?: string) {
  const baseUrl = `http://${grpcAddress}`;
  const connection = new Http2SessionManager(baseUrl);
  const transport = createGrpcTransport({
    baseUrl,
    sessionManager: connection,
    interceptors: auth(bearer, userAgent),
  });
  return {
    keys: createClient(KeyService, transport),
    authorize: createClient(AuthorizeService, transport),
    workspaces: createClient(WorkspaceService, transport),
    audit: createClient(AuditService, transport),
    health: createClient(Health, transport),
    close: () => connection.abort(),
  };
}

export type GrpcClients = ReturnType<typeof grpcClients>;

/**
 * Typed Connect clients speaking the Connect protocol (binary or JSON) to the HTTP listener, over
 * connections of their own; `close()` ends them.
 */
export function connectClients(httpUrl: string, bearer?: string, useBinaryFormat = false) {
  const agent = new Agent({ keepAlive: true });
  const transport = createConnectTransport({
    baseUrl: httpUrl,
    httpVersion: "1.1",
    useBinaryFormat,
    interceptors: auth(bearer),
    nodeOptions: { agent },
  });
  return {
    keys: createClient(KeyService, transport),
    authorize: createClient(AuthorizeService, transport),
    close: () => agent.destroy(),
  };
}

export type KeyClient = Client<typeof KeyService>;
export type AuthorizeClient = Client<typeof AuthorizeService>;

function auth(bearer: string | undefined, userAgent?: string): Interceptor[] {
  if (bearer === undefined && userAgent === undefined) return [];
  return [
    (next) => (request) => {
      if (bearer !== undefined) request.header.set("authorization", `Bearer ${bearer}`);
      if (userAgent !== undefined) request.header.set("user-agent", userAgent);
      return next(request);
    },
  ];
}

/** The outcome of a raw grpc-js call: a response, or the status it failed with. */
export type RawResult<O extends DescMessage> =
  | { readonly ok: true; readonly response: MessageShape<O> }
  | { readonly ok: false; readonly code: grpc.status; readonly details: string };

/** A plain @grpc/grpc-js client: the same stack internal services use, no Connect in between. */
export function rawGrpcClient(
  grpcAddress: string,
  credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
) {
  const client = new grpc.Client(grpcAddress, credentials);
  return {
    /** Calls a unary method with a typed message. */
    call<I extends DescMessage, O extends DescMessage>(
      path: string,
      input: I,
      output: O,
      request: MessageInitShape<I>,
      metadata: Record<string, string> = {},
    ): Promise<RawResult<O>> {
      return this.callBytes(path, toBinary(input, create(input, request)), output, metadata);
    },
    /** Calls a unary method with raw request bytes (for malformed-input tests). */
    callBytes<O extends DescMessage>(
      path: string,
      bytes: Uint8Array,
      output: O,
      metadata: Record<string, string> = {},
    ): Promise<RawResult<O>> {
      const md = new grpc.Metadata();
      for (const [name, value] of Object.entries(metadata)) md.set(name, value);
      return new Promise((resolve) => {
        client.makeUnaryRequest(
          path,
          (b: Uint8Array) => Buffer.from(b),
          (b: Buffer) => fromBinary(output, b),
          bytes,
          md,
          (error, response) => {
            if (error) resolve({ ok: false, code: error.code, details: error.details });
            else resolve({ ok: true, response: response as MessageShape<O> });
          },
        );
      });
    },
    close: () => client.close(),
  };
}
