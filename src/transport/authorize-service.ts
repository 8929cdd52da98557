import { LRUCache } from "lru-cache";
import { authorize, type Decision } from "../domain/authorize.js";
import type { Clock } from "../domain/clock.js";
import { credentialFromHeaders } from "../domain/credential.js";
import type { VerifiedKey } from "../domain/key.js";
import type { KeyResolver } from "../domain/key-store.js";
import type { Reason } from "../domain/reason.js";
import { scopesError } from "../domain/scope.js";
import { type AuthorizeResponse, AuthorizeService } from "../gen/keyward/v1/authorize_service_pb.js";
import { decisionToProto } from "./convert.js";
import { invalidArgument } from "./errors.js";
import { HOT_ANSWERS, markReusable, type ServedService, served } from "./handler.js";

export interface AuthorizeServiceDeps {
  readonly resolver: KeyResolver;
  readonly clock: Clock;
}

/** Marks a key whose allowed answer was given once: the next one is kept. */
const SEEN = Symbol("seen");

/** keyward.v1.AuthorizeService: the hot path. No store write, no logging per call. */
export function authorizeService({ resolver, clock }: AuthorizeServiceDeps): ServedService {
  // An allowed answer depends on the key alone: built and encoded once per key, for the most
  // recently used keys (bounded memory), from a key's second call on (a key loaded for one call,
  // as in a flood of distinct keys, is not worth it). A VerifiedKey is replaced, never changed,
  // when its key changes, so this cannot go stale. An answer without a key (missing, malformed,
  // not found) depends on its reason alone: one each.
  const allowed = new LRUCache<VerifiedKey, AuthorizeResponse | typeof SEEN>({ max: HOT_ANSWERS });
  const keyless = new Map<Reason, AuthorizeResponse>();
  const respond = (decision: Decision): AuthorizeResponse => {
    const key = decision.key;
    if (key === undefined) {
      let response = keyless.get(decision.reason);
      if (response === undefined) {
        response = markReusable(decisionToProto(decision));
        keyless.set(decision.reason, response);
      }
      return response;
    }
    if (decision.reason !== "allowed") return decisionToProto(decision);
    const kept = allowed.get(key);
    if (kept !== undefined && kept !== SEEN) return kept;
    if (kept === undefined) {
      allowed.set(key, SEEN);
      return decisionToProto(decision);
    }
    const response = markReusable(decisionToProto(decision));
    allowed.set(key, response);
    return response;
  };
  return served(AuthorizeService, {
    authorize(request) {
      let credential: string | undefined = request.apiKey;
      if (credential === "") credential = credentialFromHeaders(request.headers);
      else if (hasEntries(request.headers)) throw invalidArgument("set api_key or headers, not both");
      const badScope = scopesError(request.requiredScopes);
      if (badScope !== undefined) throw invalidArgument(`required_scopes: ${badScope}`);
      const decision = authorize(
        {
          credential,
          requiredScopes: request.requiredScopes,
          className: request.class,
          workspace: request.workspace,
        },
        resolver,
        clock.now(),
      );
      return decision instanceof Promise ? decision.then(respond) : respond(decision);
    },
  });
}

function hasEntries(record: Record<string, string>): boolean {
  for (const _ in record) return true;
  return false;
}
