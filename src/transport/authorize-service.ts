import { allowedAnswers, keylessAnswers } from "../cache/answer-cache.js";
import { authorize, type Decision, type Limits } from "../domain/authorize.js";
import type { Clock } from "../domain/clock.js";
import { credentialFromHeaders } from "../domain/credential.js";
import type { KeyResolver } from "../domain/key-resolver.js";
import { requestCost } from "../domain/request-cost.js";
import { headersError, requiredScopesError, tallyHeaders } from "../domain/request-limits.js";
import { type AuthorizeResponse, AuthorizeService } from "../gen/keyward/v1/authorize_service_pb.js";
import { decisionToProto } from "./convert.js";
import type { ObserveDecision } from "./decision-observer.js";
import { invalidArgument } from "./errors.js";
import { type CallContext, type ServedService, served } from "./handler.js";

export interface AuthorizeServiceDeps {
  readonly resolver: KeyResolver;
  readonly clock: Clock;
  /** How decisions count against keys' limits; none counts nothing. */
  readonly limits?: Limits | undefined;
  /** Counts (and may log) each decision (decision-observer.ts); none records nothing. */
  readonly observe?: ObserveDecision | undefined;
}

/** keyward.v1.AuthorizeService: the hot path. No store write, no logging per call. */
export function authorizeService({ resolver, clock, limits, observe }: AuthorizeServiceDeps): ServedService {
  const allowed = allowedAnswers<AuthorizeResponse>();
  const keyless = keylessAnswers(decisionToProto);
  const respond = (decision: Decision, startedAt: number, context: CallContext): AuthorizeResponse => {
    observe?.(decision, startedAt, context);
    const key = decision.key;
    if (key === undefined) return keyless(decision);
    // A counted answer (remaining, reset) differs from call to call: never kept.
    if (decision.reason !== "allowed" || decision.limits !== undefined) return decisionToProto(decision);
    return allowed(key, "", () => decisionToProto(decision));
  };
  return served(AuthorizeService, {
    authorize(request, context) {
      const startedAt = performance.now();
      // The caps first: anyone may call this, so nothing is done with a request beyond them.
      const tooMuch =
        requiredScopesError("required_scopes", request.requiredScopes) ??
        headersError("headers", tallyHeaders(request.headers));
      if (tooMuch !== undefined) throw invalidArgument(tooMuch);
      const cost = requestCost("cost", request.cost);
      if (typeof cost !== "number") throw invalidArgument(cost.error);
      let credential: string | undefined = request.apiKey;
      if (credential === "") credential = credentialFromHeaders(request.headers);
      else if (hasEntries(request.headers)) throw invalidArgument("set api_key or headers, not both");
      const decision = authorize(
        {
          credential,
          requiredScopes: request.requiredScopes,
          className: request.class,
          workspace: request.workspace,
          clientIp: request.clientIp === "" ? undefined : request.clientIp,
          cost,
          dryRun: request.dryRun,
        },
        resolver,
        clock.now(),
        limits,
      );
      return decision instanceof Promise
        ? decision.then((decided) => respond(decided, startedAt, context))
        : respond(decision, startedAt, context);
    },
  });
}

function hasEntries(record: Record<string, string>): boolean {
  for (const _ in record) return true;
  return false;
}
