import { LRUCache } from "lru-cache";
import { authorize, type Decision } from "../domain/authorize.js";
import type { Clock } from "../domain/clock.js";
import { credentialFromHeaders } from "../domain/credential.js";
import type { VerifiedKey } from "../domain/key.js";
import type { KeyResolver } from "../domain/key-store.js";
import { scopesError } from "../domain/scope.js";
import { type AuthorizeResponse, AuthorizeService } from "../gen/keyward/v1/authorize_service_pb.js";
import { decisionToProto } from "./convert.js";
import { invalidArgument } from "./errors.js";
import { HOT_ANSWERS, markReusable, type ServedService, served } from "./handler.js";

export interface AuthorizeServiceDeps {
  readonly resolver: KeyResolver;
  readonly clock: Clock;
}

/** keyward.v1.AuthorizeService: the hot path. No store write, no logging per call. */
export function authorizeService({ resolver, clock }: AuthorizeServiceDeps): ServedService {
  // An allowed answer depends on the key alone: build and encode it once per key, for the most
  // recently used keys (bounded memory). A VerifiedKey is replaced, never changed, when its key
  // changes, so this cannot go stale.
  const allowed = new LRUCache<VerifiedKey, AuthorizeResponse>({ max: HOT_ANSWERS });
  const respond = (decision: Decision): AuthorizeResponse => {
    const key = decision.key;
    if (decision.reason !== "allowed" || key === undefined) return decisionToProto(decision);
    let response = allowed.get(key);
    if (response === undefined) {
      response = markReusable(decisionToProto(decision));
      allowed.set(key, response);
    }
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
      // A key just loaded from the store may never come again (a flood of distinct keys): its
      // answer is kept only from its second call on, once it answers from the cache.
      return decision instanceof Promise ? decision.then(decisionToProto) : respond(decision);
    },
  });
}

function hasEntries(record: Record<string, string>): boolean {
  for (const _ in record) return true;
  return false;
}
