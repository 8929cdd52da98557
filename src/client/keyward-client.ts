import * as grpc from "@grpc/grpc-js";
import { AuditService } from "../gen/keyward/v1/audit_service_pb.js";
import { AuthorizeService } from "../gen/keyward/v1/authorize_service_pb.js";
import { KeyService } from "../gen/keyward/v1/key_service_pb.js";
import { WorkspaceService } from "../gen/keyward/v1/workspace_service_pb.js";
import { type UnaryClient, unaryClient } from "./unary-client.js";

/** Where Keyward is and how to reach it. */
export interface KeywardClientOptions {
  /** `host:port` of Keyward's gRPC listener. */
  readonly address: string;
  /** An admin key, sent as `authorization: Bearer …` on the management services' calls only. */
  readonly adminKey?: string;
  /** TLS (and a client certificate for mTLS); plaintext when absent. */
  readonly tls?: { readonly ca?: Buffer; readonly cert?: Buffer; readonly key?: Buffer };
  /** Deadline of an Authorize call (default AUTHORIZE_TIMEOUT_MS): an auth call must fail fast. */
  readonly authorizeTimeoutMs?: number;
  /** Deadline of a management call (default MANAGEMENT_TIMEOUT_MS). */
  readonly managementTimeoutMs?: number;
  /** Retries of a call that failed UNAVAILABLE, within its deadline (default RETRIES). */
  readonly retries?: number;
}

/** Typed clients of Keyward's services on one connection. */
export interface KeywardClient {
  readonly authorize: UnaryClient<typeof AuthorizeService>;
  readonly keys: UnaryClient<typeof KeyService>;
  readonly workspaces: UnaryClient<typeof WorkspaceService>;
  readonly audit: UnaryClient<typeof AuditService>;
  /** Closes the connection; calls made afterwards fail. */
  close(): void;
}

export const AUTHORIZE_TIMEOUT_MS = 500;
export const MANAGEMENT_TIMEOUT_MS = 10_000;
export const RETRIES = 2;
const FIRST_BACKOFF_MS = 25;

/**
 * A client of Keyward over grpc-js, with defaults for an auth call: a short deadline, keep-alive on
 * the connection while calls are open, no retry of an answer (a denial is an answer, not a failure),
 * and up to RETRIES retries of a call that failed UNAVAILABLE, with backoff from 25 ms, within the
 * call's deadline. grpc-js's own retries are off, so that only this policy applies.
 *
 *   const keyward = createKeywardClient({ address: "keyward.internal:50051" });
 *   const decision = await keyward.authorize.authorize({ apiKey, requiredScopes: ["orders:read"] });
 */
export function createKeywardClient(options: KeywardClientOptions): KeywardClient {
  const credentials =
    options.tls === undefined
      ? grpc.credentials.createInsecure()
      : grpc.credentials.createSsl(options.tls.ca ?? null, options.tls.key ?? null, options.tls.cert ?? null);
  const channel = new grpc.Client(options.address, credentials, {
    "grpc.keepalive_time_ms": 60_000,
    "grpc.keepalive_timeout_ms": 10_000,
    "grpc.keepalive_permit_without_calls": 0,
    "grpc.enable_retries": 0,
  });
  const retries = options.retries ?? RETRIES;
  const management = {
    timeoutMs: options.managementTimeoutMs ?? MANAGEMENT_TIMEOUT_MS,
    retries,
    backoffMs: FIRST_BACKOFF_MS,
    headers: options.adminKey === undefined ? {} : { authorization: `Bearer ${options.adminKey}` },
  };
  return {
    authorize: unaryClient(channel, AuthorizeService, {
      timeoutMs: options.authorizeTimeoutMs ?? AUTHORIZE_TIMEOUT_MS,
      retries,
      backoffMs: FIRST_BACKOFF_MS,
      headers: {},
    }),
    keys: unaryClient(channel, KeyService, management),
    workspaces: unaryClient(channel, WorkspaceService, management),
    audit: unaryClient(channel, AuditService, management),
    close: () => channel.close(),
  };
}
