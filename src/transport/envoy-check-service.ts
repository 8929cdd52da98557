import { create } from "@bufbuild/protobuf";
import { type AllowedAnswers, allowedAnswers } from "../cache/answer-cache.js";
import type { Limits } from "../domain/authorize.js";
import {
  type CheckResult,
  type CheckSettings,
  decideCheck,
  RouteConfigError,
} from "../domain/check-request.js";
import { clientAddress } from "../domain/client-address.js";
import type { Clock } from "../domain/clock.js";
import type { KeyResolver } from "../domain/key-resolver.js";
import type { MaybePromise } from "../domain/maybe-promise.js";
import {
  contextExtensionsError,
  type HeaderTally,
  headersError,
  tallyHeaders,
} from "../domain/request-limits.js";
import {
  type HeaderValueOption,
  HeaderValueOption_HeaderAppendAction,
} from "../gen/envoy/config/core/v3/base_pb.js";
import type { AttributeContext_HttpRequest } from "../gen/envoy/service/auth/v3/attribute_context_pb.js";
import {
  Authorization,
  type CheckResponse,
  CheckResponseSchema,
} from "../gen/envoy/service/auth/v3/external_auth_pb.js";
import type { ObserveDecision } from "./decision-observer.js";
import { invalidArgument } from "./errors.js";
import { deniedAnswer, identityHeaders } from "./gateway-answers.js";
import { type ServedService, served } from "./handler.js";
import { rateLimitHeaders } from "./rate-limit-headers.js";

export interface EnvoyCheckOptions extends CheckSettings {
  /** Prefix of the identity headers added for the upstream (`x-keyward-`); client headers with it are removed. */
  readonly headerPrefix: string;
  /** Keep the credential header from the upstream. */
  readonly removeCredential: boolean;
  /** Proxies in front of Envoy whose x-forwarded-for entries are believed; 0 uses the connection's address. */
  readonly trustedProxies: number;
}

export interface EnvoyCheckDeps {
  readonly resolver: KeyResolver;
  readonly clock: Clock;
  readonly options: EnvoyCheckOptions;
  /** How decisions count against keys' limits; none counts nothing. */
  readonly limits?: Limits | undefined;
  /** Counts (and may log) each decision (decision-observer.ts); none records nothing. */
  readonly observe?: ObserveDecision | undefined;
}

const GRPC_OK = 0;
const GRPC_PERMISSION_DENIED = 7;
const GRPC_RESOURCE_EXHAUSTED = 8;
const GRPC_UNAUTHENTICATED = 16;
const utf8 = new TextDecoder();
const NO_HEADERS: readonly string[] = Object.freeze([]);

/**
 * envoy.service.auth.v3.Authorization/Check, for Envoy's ext_authz filter.
 * Every well-formed request gets a CheckResponse; a store outage is a gRPC
 * UNAVAILABLE so that Envoy's failure_mode_allow / status_on_error decide.
 */
export function envoyCheckService({
  resolver,
  clock,
  options,
  limits,
  observe,
}: EnvoyCheckDeps): ServedService {
  // Denials are built per call: they carry the route's requirements, not only the key's.
  const allowed = allowedAnswers<CheckResponse>();
  return served(Authorization, {
    check(request) {
      const startedAt = performance.now();
      const attributes = request.attributes;
      const http = attributes?.request?.http;
      const tooMuch =
        headersError("attributes.request.http headers", httpTally(http)) ??
        contextExtensionsError(attributes?.contextExtensions ?? {});
      if (tooMuch !== undefined) throw invalidArgument(tooMuch);
      const header = headerLookup(http);
      let result: MaybePromise<CheckResult>;
      try {
        result = decideCheck(
          {
            method: http?.method ?? "",
            path: http?.path || (header(":path") ?? ""),
            header,
            contextExtensions: attributes?.contextExtensions ?? {},
            clientIp: clientAddress(
              attributes?.source?.address?.address.case === "socketAddress"
                ? attributes.source.address.address.value.address
                : undefined,
              // Read only when believed: with no trusted proxy the header is never looked up.
              options.trustedProxies === 0 ? undefined : header("x-forwarded-for"),
              options.trustedProxies,
            ),
          },
          options,
          resolver,
          clock.now(),
          limits,
        );
      } catch (error) {
        if (error instanceof RouteConfigError) throw invalidArgument(error.message);
        throw error;
      }
      const respond = (checked: CheckResult) => {
        observe?.(checked.decision, startedAt, header);
        return checkResponse(checked, http, options, allowed);
      };
      return result instanceof Promise ? result.then(respond) : respond(result);
    },
  });
}

/** Envoy sends the headers in `headers` or, raw, in `header_map`; the caps count both, and the path. */
function httpTally(http: AttributeContext_HttpRequest | undefined): HeaderTally {
  if (http === undefined) return { entries: 0, chars: 0 };
  const tally = tallyHeaders(http.headers, { entries: 0, chars: http.path.length });
  for (const entry of http.headerMap?.headers ?? []) {
    tally.entries++;
    tally.chars += entry.key.length + entry.value.length + entry.rawValue.byteLength;
  }
  return tally;
}

/** A header by lower-case name, from `headers` or, when Envoy sends raw headers, `header_map`. No copying. */
function headerLookup(http: AttributeContext_HttpRequest | undefined): (name: string) => string | undefined {
  if (http === undefined) return () => undefined;
  const map = http.headers;
  const list = http.headerMap?.headers;
  return (name) => {
    const value = map[name];
    if (value !== undefined) return value;
    if (list !== undefined) {
      for (const entry of list) {
        if (entry.key === name) return entry.value !== "" ? entry.value : utf8.decode(entry.rawValue);
      }
    }
    return undefined;
  };
}

/** Names of the headers the client sent that start with the prefix (spoofing attempts). */
function prefixedHeaders(http: AttributeContext_HttpRequest | undefined, prefix: string): readonly string[] {
  // No array unless one is found: the usual request has none.
  if (http === undefined) return NO_HEADERS;
  let names: string[] | undefined;
  for (const name in http.headers) if (name.startsWith(prefix)) names = withName(names, name);
  for (const entry of http.headerMap?.headers ?? []) {
    if (entry.key.startsWith(prefix)) names = withName(names, entry.key);
  }
  return names ?? NO_HEADERS;
}

function withName(names: string[] | undefined, name: string): string[] {
  if (names === undefined) return [name];
  if (!names.includes(name)) names.push(name);
  return names;
}

function checkResponse(
  checked: CheckResult,
  http: AttributeContext_HttpRequest | undefined,
  options: EnvoyCheckOptions,
  allowed: AllowedAnswers<CheckResponse>,
): CheckResponse {
  const { decision } = checked;
  if (decision.reason !== "allowed") return deniedResponse(checked);
  const spoofed = prefixedHeaders(http, options.headerPrefix);
  const verified = decision.key;
  // With no client-sent prefixed headers (the usual case) and no counted limits, an allowed answer
  // depends only on the key and the header that carried it.
  if (verified === undefined || spoofed.length > 0 || decision.limits !== undefined)
    return okResponse(checked, spoofed, options);
  return allowed(verified, checked.credentialHeader ?? "", () => okResponse(checked, spoofed, options));
}

function okResponse(
  checked: CheckResult,
  spoofed: readonly string[],
  options: EnvoyCheckOptions,
): CheckResponse {
  const found = checked.decision.key;
  const headers: HeaderValueOption[] =
    found === undefined
      ? []
      : identityHeaders(found, options.headerPrefix).map(([name, value]) => overwrite(name, value));
  // Added headers overwrite spoofed ones; the other client-sent prefixed headers are removed.
  // Never list an added header here: Envoy applies removals after additions.
  const added = new Set(headers.map((h) => h.header?.key));
  const headersToRemove = spoofed.filter((name) => !added.has(name));
  if (options.removeCredential && checked.credentialHeader !== undefined)
    headersToRemove.push(checked.credentialHeader);
  const limits = checked.decision.limits;
  const response = create(CheckResponseSchema, {
    status: { code: GRPC_OK },
    httpResponse: {
      case: "okResponse",
      value: {
        headers,
        headersToRemove,
        // For the client: where the key stands (x-ratelimit-*), on every counted answer.
        responseHeadersToAdd:
          limits === undefined ? [] : rateLimitHeaders(limits).map(([name, value]) => overwrite(name, value)),
      },
    },
  });
  if (found !== undefined) {
    response.dynamicMetadata = { key_id: found.keyId, workspace: found.terms.workspace };
  }
  return response;
}

function deniedResponse(checked: CheckResult): CheckResponse {
  const { status, message, headers, body } = deniedAnswer(checked);
  return create(CheckResponseSchema, {
    status: { code: grpcCodeOf(status), message },
    httpResponse: {
      case: "deniedResponse",
      value: {
        status: { code: status },
        headers: headers.map(([name, value]) => overwrite(name, value)),
        body,
      },
    },
  });
}

function grpcCodeOf(status: 401 | 403 | 429): number {
  switch (status) {
    case 401:
      return GRPC_UNAUTHENTICATED;
    case 403:
      return GRPC_PERMISSION_DENIED;
    case 429:
      return GRPC_RESOURCE_EXHAUSTED;
  }
}

function overwrite(key: string, value: string): HeaderValueOption {
  return {
    $typeName: "envoy.config.core.v3.HeaderValueOption",
    header: { $typeName: "envoy.config.core.v3.HeaderValue", key, value, rawValue: new Uint8Array(0) },
    appendAction: HeaderValueOption_HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD,
    keepEmptyValue: false,
  };
}
