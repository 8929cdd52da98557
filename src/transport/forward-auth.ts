import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";
import { Code } from "@connectrpc/connect";
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
import { REQUEST_LIMITS } from "../domain/request-limits.js";
import type { Logger } from "../log.js";
import type { ObserveDecision } from "./decision-observer.js";
import { toRpcError } from "./errors.js";
import { type ForwardedRequest, forwardedRequest, ORIGINAL_REQUEST_HEADERS } from "./forwarded-request.js";
import { deniedAnswer, identityHeaders } from "./gateway-answers.js";
import { lingerOnClose, type NodeHandler } from "./http-body-limits.js";
import { rateLimitHeaders } from "./rate-limit-headers.js";
import { routeQueries } from "./route-query.js";
import { wantedHeaders } from "./wanted-headers.js";

export interface ForwardAuthOptions extends CheckSettings {
  /** Prefix of the identity headers (`x-keyward-`), as for Check. */
  readonly headerPrefix: string;
  /** Proxies whose x-forwarded-for entries are believed, the gateway itself among them; 0 uses the connection's address. */
  readonly trustedProxies: number;
}

export interface ForwardAuthDeps {
  readonly resolver: KeyResolver;
  readonly clock: Clock;
  readonly options: ForwardAuthOptions;
  readonly log: Logger;
  /** How decisions count against keys' limits; none counts nothing. */
  readonly limits?: Limits | undefined;
  /** Counts (and may log) each decision (decision-observer.ts); none records nothing. */
  readonly observe?: ObserveDecision | undefined;
}

// A forward-auth request carries no body worth reading; one this small is drained to keep the
// connection, a larger or unsized one is never read and the connection closes after the answer.
const MAX_DRAINED_BODY_BYTES = 8 * 1024;

/**
 * The `/authz/*` endpoints on the HTTP listener: forward auth for Traefik and Caddy, auth_request for
 * nginx, ext_authz http_service for Envoy. A plain node:http handler (connect-node would cost several
 * times the decision) that decides exactly as Envoy Check does (decideCheck) and answers as its
 * gateway expects: 200 with identity headers, the reason's status with Check's JSON body, 503 when
 * the store is out (so that the gateway fails closed), 400 for a request that names no original request.
 */
export function forwardAuthHandler({
  resolver,
  clock,
  options,
  log,
  limits,
  observe,
}: ForwardAuthDeps): NodeHandler {
  // Allowed answers of hot keys, built once: they depend on the key and nothing else when uncounted.
  const allowed: AllowedAnswers<OutgoingHttpHeaders> = allowedAnswers();
  // Route requirements of the auth URLs seen last, parsed once each (src/cache/README.md).
  const routes = routeQueries();
  const readHeaders = wantedHeaders([
    ...options.credentialHeaders,
    ...ORIGINAL_REQUEST_HEADERS,
    "x-forwarded-for",
    "content-length",
    "transfer-encoding",
  ]);
  return (request, response) => {
    const startedAt = performance.now();
    const headers = readHeaders(request.rawHeaders);
    ignoreBody(request, headers, response);
    // Node caps the header block's bytes (maxHeaderSize); the count is capped as Check's is.
    const entries = request.rawHeaders.length / 2;
    if (entries > REQUEST_LIMITS.headers) {
      return sendError(
        response,
        431,
        "invalid_argument",
        `at most ${REQUEST_LIMITS.headers} headers (got ${entries})`,
      );
    }
    const original = forwardedRequest(request.url ?? "", request.method ?? "", headers, routes);
    if ("error" in original) {
      return sendError(
        response,
        original.status,
        original.status === 404 ? "not_found" : "invalid_argument",
        original.error,
      );
    }
    const fail = (error: unknown) => failed(response, error, log, original.flavour);
    let result: MaybePromise<CheckResult>;
    try {
      result = decideCheck(
        checkInput(request, headers, original, options),
        options,
        resolver,
        clock.now(),
        limits,
      );
    } catch (error) {
      return fail(error);
    }
    const respond = (checked: CheckResult) => {
      observe?.(checked.decision, startedAt, request);
      answer(response, checked, original, options, allowed);
    };
    if (result instanceof Promise) result.then(respond, fail);
    else respond(result);
  };
}

function checkInput(
  request: IncomingMessage,
  headers: IncomingHttpHeaders,
  original: ForwardedRequest,
  options: ForwardAuthOptions,
) {
  const header = (name: string): string | undefined => {
    const value = headers[name];
    return typeof value === "string" ? value : value?.[0];
  };
  return {
    method: original.method,
    path: original.path,
    header,
    contextExtensions: original.contextExtensions,
    // The connection is the gateway's: only x-forwarded-for, within the trusted hops, names the client.
    clientIp: clientAddress(
      request.socket.remoteAddress,
      options.trustedProxies === 0 ? undefined : header("x-forwarded-for"),
      options.trustedProxies,
    ),
  };
}

function answer(
  response: ServerResponse,
  checked: CheckResult,
  original: ForwardedRequest,
  options: ForwardAuthOptions,
  allowed: AllowedAnswers<OutgoingHttpHeaders>,
): void {
  const { decision } = checked;
  if (decision.reason === "allowed") {
    const found = decision.key;
    const build = () => allowedHeaders(checked, options);
    const headers =
      found === undefined || decision.limits !== undefined ? build() : allowed(found, "", build);
    response.writeHead(200, headers);
    response.end();
    return;
  }
  const denied = deniedAnswer(checked);
  const headers: OutgoingHttpHeaders = Object.fromEntries(denied.headers);
  let status: number = denied.status;
  if (original.flavour === "auth-request") {
    // nginx's auth_request turns any status but 2xx, 401 and 403 into 500: a 429 goes as 403 with
    // the real status beside it, which the example config's error_page turns back into 429.
    if (status === 429) {
      status = 403;
      headers[`${options.headerPrefix}status`] = "429";
    }
    // nginx answers a denial with its own error page, never the auth answer's body: the body goes
    // in a header too, for the example config's error_page to send.
    headers[`${options.headerPrefix}body`] = asciiJson(denied.body);
  }
  const body = Buffer.from(denied.body);
  headers["content-length"] = body.byteLength;
  response.writeHead(status, headers);
  response.end(body);
}

/** The same JSON with every character outside printable ASCII escaped, so that it is a valid header value. */
function asciiJson(json: string): string {
  return json.replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

function allowedHeaders(checked: CheckResult, options: ForwardAuthOptions): OutgoingHttpHeaders {
  const found = checked.decision.key;
  const pairs = found === undefined ? [] : identityHeaders(found, options.headerPrefix);
  const limits = checked.decision.limits;
  if (limits !== undefined) pairs.push(...rateLimitHeaders(limits));
  return { ...Object.fromEntries(pairs), "content-length": 0 };
}

/** An outage is 503 so that the gateway fails closed; anything else is a bug, 500. Neither says more than Check's status would. */
function failed(response: ServerResponse, error: unknown, log: Logger, flavour: string): void {
  if (error instanceof RouteConfigError) {
    sendError(response, 400, "invalid_argument", error.message);
    return;
  }
  const converted = toRpcError(error, log, `/authz/${flavour}`);
  if (converted.code === Code.Unavailable) sendError(response, 503, "unavailable", converted.rawMessage);
  else sendError(response, 500, "internal", "internal error");
}

function sendError(response: ServerResponse, status: number, code: string, message: string): void {
  if (response.headersSent) {
    response.destroy();
    return;
  }
  const body = Buffer.from(JSON.stringify({ error: { code, message } }));
  response.writeHead(status, { "content-type": "application/json", "content-length": body.byteLength });
  response.end(body);
}

function ignoreBody(request: IncomingMessage, headers: IncomingHttpHeaders, response: ServerResponse): void {
  const length = headers["content-length"];
  if (headers["transfer-encoding"] === undefined && !(Number(length) > MAX_DRAINED_BODY_BYTES)) {
    request.resume();
    return;
  }
  // Decided before the head is written: the answer then says `connection: close`.
  response.shouldKeepAlive = false;
  lingerOnClose(request.socket);
}
