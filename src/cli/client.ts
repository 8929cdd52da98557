import { readFileSync } from "node:fs";
import { type Client, Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { AuditService } from "../gen/keyward/v1/audit_service_pb.js";
import { KeyService } from "../gen/keyward/v1/key_service_pb.js";
import { WorkspaceService } from "../gen/keyward/v1/workspace_service_pb.js";

// How the CLI reaches the server: typed clients over gRPC, the admin key as a bearer token, and one
// line for any failure.

/** Where the server is and which admin key to present (--server, KEYWARD_ADMIN_KEY). */
export interface Connection {
  readonly server: string;
  readonly adminKey?: string;
  /** PEM files for TLS (--ca, --client-cert, --client-key); any of them, or an https:// server, means TLS. */
  readonly ca?: string;
  readonly clientCert?: string;
  readonly clientKey?: string;
}

export interface Clients {
  readonly keys: Client<typeof KeyService>;
  readonly workspaces: Client<typeof WorkspaceService>;
  readonly audit: Client<typeof AuditService>;
}

/** Clients for every management service. Nothing is dialled until the first call. */
export function createClients(connection: Connection): Clients {
  const tls = connection.ca !== undefined || connection.clientCert !== undefined;
  const transport = createGrpcTransport({
    baseUrl: connection.server.includes("://")
      ? connection.server
      : `${tls ? "https" : "http"}://${connection.server}`,
    nodeOptions: tlsOptions(connection),
    interceptors: [bearer(connection.adminKey?.trim() ?? "")],
    // A black-holed address would otherwise hang until the OS gives up on the TCP connect.
    defaultTimeoutMs: 30_000,
  });
  return {
    keys: createClient(KeyService, transport),
    workspaces: createClient(WorkspaceService, transport),
    audit: createClient(AuditService, transport),
  };
}

/** The CA to trust instead of the system's, and the client certificate, read from their files. */
function tlsOptions(connection: Connection): { ca?: Buffer; cert?: Buffer; key?: Buffer } {
  if ((connection.clientCert === undefined) !== (connection.clientKey === undefined)) {
    throw new ConnectError("--client-cert and --client-key go together", Code.InvalidArgument);
  }
  const options: { ca?: Buffer; cert?: Buffer; key?: Buffer } = {};
  for (const [option, flag, path] of [
    ["ca", "--ca", connection.ca],
    ["cert", "--client-cert", connection.clientCert],
    ["key", "--client-key", connection.clientKey],
  ] as const) {
    if (path === undefined) continue;
    try {
      options[option] = readFileSync(path);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new ConnectError(`${flag} ${path} cannot be read (${reason})`, Code.InvalidArgument);
    }
  }
  return options;
}

function bearer(adminKey: string): Interceptor {
  // async, so that the refusal below is a rejected call: thrown synchronously, it would skip
  // connect's cleanup and leave the call's deadline timer holding the process open.
  return (next) => async (request) => {
    // Refused here rather than left to the server, which cannot say which variable to set. Checked
    // at the call, not before, so that a usage error is still reported as one.
    if (adminKey === "") {
      throw new ConnectError(
        "no admin key: set KEYWARD_ADMIN_KEY (or pass --admin-key)",
        Code.Unauthenticated,
      );
    }
    request.header.set("authorization", `Bearer ${adminKey}`);
    return await next(request);
  };
}

// Node's codes for "no Keyward server answered at that address": nothing listens, or something
// that does not speak HTTP/2 does (another service, Keyward's HTTP/1.1 listener). All are reported
// as unavailable: connect-node reports some of them as internal, which would read as a server bug.
const UNREACHABLE = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EADDRNOTAVAIL",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ERR_HTTP2_ERROR",
  "ERR_HTTP2_SESSION_ERROR",
]);

/**
 * `keyward: <code>: <message>`, with the server's message as it sent it. Server messages never carry
 * key material (README, Errors), but the admin key is redacted anyway: a transport error could quote
 * a header, and this line ends up in CI logs.
 */
export function describeError(error: unknown, connection: Connection): string {
  const connectError = ConnectError.from(error);
  const systemCode = unreachableCause(connectError);
  const line =
    systemCode === undefined
      ? `keyward: ${codeToString(connectError.code)}: ${connectError.rawMessage}`
      : `keyward: ${codeToString(Code.Unavailable)}: cannot reach the Keyward server at ${connection.server} ` +
        `(${systemCode}); is it running, and is this its gRPC port? Set --server or KEYWARD_SERVER`;
  const adminKey = connection.adminKey?.trim() ?? "";
  return adminKey === "" ? line : line.replaceAll(adminKey, "[admin key]");
}

/** The system error code behind a failure to connect, found along the cause chain. */
function unreachableCause(error: Error): string | undefined {
  const seen = new Set<unknown>();
  for (let cause: unknown = error; cause instanceof Error && !seen.has(cause); cause = cause.cause) {
    seen.add(cause);
    const code = (cause as NodeJS.ErrnoException).code;
    if (code !== undefined && UNREACHABLE.has(code)) return code;
  }
  return undefined;
}
