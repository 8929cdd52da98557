import { randomUUID } from "node:crypto";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { CheckRequestSchema } from "../../src/gen/envoy/service/auth/v3/external_auth_pb.js";

// CheckRequests shaped as Envoy's ext_authz filter sends them (grpc_service, v3 API). Free of
// vitest on purpose: the tests (through test/envoy/envoy-request.ts) and the bench (scenario 2,
// bench/h2load-scenarios.ts) both build their requests here, so the two never drift apart.

export const CHECK = "/envoy.service.auth.v3.Authorization/Check";

export type CheckRequestInit = MessageInitShape<typeof CheckRequestSchema>;

export interface EnvoyRequestOptions {
  /** Defaults to GET. */
  readonly method?: string;
  /** The request target with its query string, as Envoy sends it. Defaults to `/v1/orders?limit=20`. */
  readonly path?: string;
  /** Extra or replaced request headers, lower-case names (Envoy lower-cases them). */
  readonly headers?: Readonly<Record<string, string>>;
  /** The route's `check_settings.context_extensions`. */
  readonly contextExtensions?: Readonly<Record<string, string>>;
  /** Envoy's `encode_raw_headers: true`: `headers` left empty, `header_map` with raw_value bytes. */
  readonly rawHeaders?: boolean;
  /** The downstream peer Envoy saw (`attributes.source.address`). Defaults to 203.0.113.54. */
  readonly sourceAddress?: string;
}

const AUTHORITY = "api.example.com";
const utf8 = new TextEncoder();

/** A CheckRequest as Envoy builds it for an HTTP/1.1 request arriving over TLS at its listener. */
export function envoyCheckRequest(options: EnvoyRequestOptions = {}): CheckRequestInit {
  const method = options.method ?? "GET";
  const path = options.path ?? "/v1/orders?limit=20";
  const id = randomUUID();
  const headers: Record<string, string> = {
    ":authority": AUTHORITY,
    ":method": method,
    ":path": path,
    ":scheme": "https",
    accept: "application/json, text/plain;q=0.9, */*;q=0.8",
    "accept-encoding": "gzip, deflate, br",
    "accept-language": "en-GB,en;q=0.9,de;q=0.7",
    "user-agent":
      "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "x-forwarded-for": "203.0.113.54, 198.51.100.17",
    "x-forwarded-proto": "https",
    "x-request-id": id,
    "x-envoy-expected-rq-timeout-ms": "15000",
    traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "x-b3-traceid": "80f198ee56343ba864fe8b2a57d3eff7",
    "x-b3-spanid": "e457b5a2e4d86bd1",
    "x-b3-sampled": "1",
    cookie: "session=3f7a9c1e5b2d4f6a8c0e1b3d5f7a9c1e; theme=dark; consent=analytics%3Dno",
    ...options.headers,
  };
  return {
    attributes: {
      source: {
        address: socketAddress(options.sourceAddress ?? "203.0.113.54", 53514),
        principal: "",
      },
      destination: {
        address: socketAddress("10.0.4.21", 10000),
      },
      request: {
        time: timestampFromDate(new Date()),
        http: {
          id,
          method,
          headers: options.rawHeaders ? {} : headers,
          headerMap: options.rawHeaders
            ? {
                headers: Object.entries(headers).map(([key, value]) => ({
                  key,
                  value: "",
                  rawValue: utf8.encode(value),
                })),
              }
            : undefined,
          path,
          host: AUTHORITY,
          scheme: "https",
          size: method === "GET" || method === "HEAD" ? 0n : -1n,
          protocol: "HTTP/1.1",
        },
      },
      contextExtensions: { ...options.contextExtensions },
    },
  };
}

function socketAddress(address: string, port: number) {
  return {
    address: {
      case: "socketAddress" as const,
      value: { address, portSpecifier: { case: "portValue" as const, value: port } },
    },
  };
}
