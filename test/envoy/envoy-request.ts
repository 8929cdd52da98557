import type { JsonObject } from "@bufbuild/protobuf";
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
import { CHECK, type CheckRequestInit } from "../support/envoy-check-request.js";

// A client for Envoy's Check and readers for the CheckResponse fields Envoy acts on, with the
// assertions the Envoy tests share. The requests themselves are built in
// test/support/envoy-check-request.ts (no vitest there: the bench builds its requests with it too).

export {
  CHECK,
  type CheckRequestInit,
  type EnvoyRequestOptions,
  envoyCheckRequest,
} from "../support/envoy-check-request.js";

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

const GRPC_CODE_OF_HTTP: Record<number, number> = { 401: 16, 403: 7, 429: 8 };

/**
 * Asserts a denial as Envoy relays it: the gRPC code matching the HTTP status, the JSON
 * content type, the bearer challenge on 401 only, and the body's error code. Returns the body.
 */
export function expectDenied(
  response: CheckResponse,
  httpStatus: 401 | 403 | 429,
  reason: string,
): DeniedBody {
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
