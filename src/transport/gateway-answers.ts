import type { JsonObject } from "@bufbuild/protobuf";
import type { CheckResult } from "../domain/check-request.js";
import { decisionMessage } from "../domain/decision-message.js";
import type { VerifiedKey } from "../domain/key.js";
import { httpStatusOf } from "../domain/reason.js";
import { limitDetails, rateLimitHeaders } from "./rate-limit-headers.js";

// What a gateway is told, whichever protocol asked (Envoy Check over gRPC, forward auth over
// HTTP): one source, so that every gateway gets the same headers, statuses and bodies.

/** A header as name and value, for any protocol's header list. */
export type HeaderPair = [name: string, value: string];

/** A denial as the client should see it: status, headers and JSON body. */
export interface DeniedAnswer {
  readonly status: 401 | 403 | 429;
  /** The decision's message, also the gRPC status message of Check. */
  readonly message: string;
  readonly headers: HeaderPair[];
  readonly body: string;
}

/** The identity headers for the upstream (`<prefix>key-id`, `-workspace`, `-scopes`, `-owner-id`); empty values are left out. */
export function identityHeaders(found: VerifiedKey, prefix: string): HeaderPair[] {
  const headers: HeaderPair[] = [];
  const identity: HeaderPair[] = [
    ["key-id", found.keyId],
    ["workspace", found.terms.workspace],
    ["scopes", found.terms.scopes.granted.join(",")],
    ["owner-id", found.terms.ownerId],
  ];
  for (const [suffix, value] of identity) if (value !== "") headers.push([prefix + suffix, value]);
  return headers;
}

/**
 * The answer to a denied decision: `{ error: { code, message, details } }`, with
 * `www-authenticate` on a 401 and the rate-limit headers on a counted answer.
 */
export function deniedAnswer({ decision, requirements }: CheckResult): DeniedAnswer {
  const status = httpStatusOf(decision.reason);
  if (status === 200) throw new Error("deniedAnswer: the decision allows");
  const message = decisionMessage(decision);
  const key = decision.key;
  const details: JsonObject = {};
  if (requirements.scopes.length > 0) details.required_scopes = [...requirements.scopes];
  if (key !== undefined) {
    details.key_id = key.keyId;
    details.granted_scopes = [...key.terms.scopes.granted];
    if (decision.missingScopes.length > 0) details.missing_scopes = [...decision.missingScopes];
    const expireTime = key.terms.expireTime;
    if (expireTime !== null) details.expire_time = new Date(expireTime).toISOString();
  }
  const headers: HeaderPair[] = [["content-type", "application/json"]];
  if (status === 401) headers.push(["www-authenticate", 'Bearer realm="keyward", error="invalid_token"']);
  const limits = decision.limits;
  if (limits !== undefined) {
    headers.push(...rateLimitHeaders(limits));
    if (status === 429) Object.assign(details, limitDetails(decision.reason, limits));
  }
  const body = JSON.stringify({ error: { code: decision.reason, message, details } });
  return { status, message, headers, body };
}
