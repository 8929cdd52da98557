import { randomUUID } from "node:crypto";
import type { JsonObject, MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { expect } from "vitest";
import {
  type HeaderValueOption,
  HeaderValueOption_HeaderAppendAction,
} from "../../src/gen/envoy/config/core/v3/base_pb.js";
import {
  CheckRequestSchema,
  type CheckResponse,
  CheckResponseSchema,
  type OkHttpResponse,
} from "../../src/gen/envoy/service/auth/v3/external_auth_pb.js";
import { type RawResult, rawGrpcClient } from "../support/clients.js";

// CheckRequests shaped as Envoy's ext_authz filter sends them (grpc_service, v3 API), and readers
// for the CheckResponse fields Envoy acts on.

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
        address: socketAddress("203.0.113.54", 53514),
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

/** A raw grpc-js client for Authorization/Check, as Envoy's Google gRPC client calls it. */
export function envoyClient(grpcAddress: string) {
  const raw = rawGrpcClient(grpcAddress);
  return {
    /** The response or the gRPC status the call failed with. */
    result(request: CheckRequestInit): Promise<RawResult<typeof CheckResponseSchema>> {
      return raw.call(CHECK, CheckRequestSchema, CheckResponseSchema, request);
    },
    /** The response; a failed call fails the test. */
    async check(request: CheckRequestInit): Promise<CheckResponse> {
      const result = await this.result(request);
      if (!result.ok) throw new Error(`Check failed with gRPC ${result.code}: ${result.details}`);
      return result.response;
    },
    close: () => raw.close(),
  };
}

/** A header option's value, whichever of value and raw_value carries it. */
export function headerValue(option: HeaderValueOption): string {
  const header = option.header;
  if (header === undefined) return "";
  return header.value !== "" ? header.value : new TextDecoder().decode(header.rawValue);
}

/** Header options by name: value and append action. */
export function headerOptions(
  options: readonly HeaderValueOption[],
): Record<string, { value: string; action: HeaderValueOption_HeaderAppendAction }> {
  const byName: Record<string, { value: string; action: HeaderValueOption_HeaderAppendAction }> = {};
  for (const option of options) {
    byName[option.header?.key ?? ""] = { value: headerValue(option), action: option.appendAction };
  }
  return byName;
}

/** Asserts an allowed answer (gRPC OK in status, ok_response) and returns the ok_response. */
export function expectAllowed(response: CheckResponse): OkHttpResponse {
  expect(response.status?.code).toBe(0);
  expect(response.httpResponse.case).toBe("okResponse");
  if (response.httpResponse.case !== "okResponse") throw new Error("not an ok_response");
  return response.httpResponse.value;
}

export interface DeniedBody {
  readonly error: { readonly code: string; readonly message: string; readonly details: JsonObject };
}

const GRPC_CODE_OF_HTTP: Record<number, number> = { 401: 16, 403: 7 };

/**
 * Asserts a denial as Envoy relays it: the gRPC code matching the HTTP status, the JSON
 * content type, the bearer challenge on 401 only, and the body's error code. Returns the body.
 */
export function expectDenied(response: CheckResponse, httpStatus: 401 | 403, reason: string): DeniedBody {
  expect(response.httpResponse.case).toBe("deniedResponse");
  if (response.httpResponse.case !== "deniedResponse") throw new Error("not a denied_response");
  const denied = response.httpResponse.value;
  expect(response.status?.code).toBe(GRPC_CODE_OF_HTTP[httpStatus]);
  expect(denied.status?.code).toBe(httpStatus);
  const headers = headerOptions(denied.headers);
  expect(headers["content-type"]).toEqual({
    value: "application/json",
    action: HeaderValueOption_HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD,
  });
  if (httpStatus === 401) {
    expect(headers["www-authenticate"]).toEqual({
      value: 'Bearer realm="keyward", error="invalid_token"',
      action: HeaderValueOption_HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD,
    });
  } else {
    expect(headers["www-authenticate"]).toBeUndefined();
  }
  const body = JSON.parse(denied.body) as DeniedBody;
  expect(body).toEqual({
    error: { code: reason, message: expect.any(String), details: expect.any(Object) },
  });
  expect(body.error.message).not.toBe("");
  expect(response.status?.message).toBe(body.error.message);
  expect(response.dynamicMetadata).toBeUndefined();
  return body;
}

/** The body text and status message of a response, to check that no secret leaks into them. */
export function visibleText(response: CheckResponse): string {
  const body = response.httpResponse.case === "deniedResponse" ? response.httpResponse.value.body : "";
  return `${response.status?.message ?? ""}\n${body}`;
}
