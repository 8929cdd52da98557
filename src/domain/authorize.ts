import type { VerifiedKey } from "./key.js";
import { parseKey } from "./key-format.js";
import { digestKey } from "./key-hash.js";
import type { KeyResolver } from "./key-resolver.js";
import type { LimitDecision } from "./limit-decision.js";
import { enforcedLimits, type LimitGate } from "./limit-gate.js";
import type { LimitReport } from "./limit-report.js";
import type { MaybePromise } from "./maybe-promise.js";
import type { Reason } from "./reason.js";
import { missingScopes } from "./scope.js";
import type { TierTable } from "./tiers.js";
import type { UsageTally } from "./usage-tally.js";

/** What a request presents and asks for. Scopes must already be validated. */
export interface AuthorizeInput {
  /** The presented key; undefined or empty when none was presented. */
  readonly credential: string | undefined;
  readonly requiredScopes: readonly string[];
  /** "" when the request names no class. */
  readonly className: string;
  /** "" when any workspace is acceptable. */
  readonly workspace: string;
  /** The end client's address, for keys with allowed CIDRs; undefined when unknown. */
  readonly clientIp: string | undefined;
  /** What the request counts against the key's limits (≥ 1). */
  readonly cost: number;
  /** Decide as usual, but consume and count nothing. */
  readonly dryRun: boolean;
}

/** How decisions are counted; none for decisions that count nothing (admin authentication). */
export interface Limits {
  readonly gate: LimitGate;
  readonly tiers: TierTable;
  /** Every identified key's allowed and denied requests (Key.usage), whether it has limits or not. */
  readonly tally: UsageTally;
}

/** The answer. `key` is set whenever a key was found, also for most denials. */
export interface Decision {
  readonly reason: Reason;
  readonly key: VerifiedKey | undefined;
  readonly missingScopes: readonly string[];
  /** Set when the key has limits that were counted; such an answer differs from call to call. */
  readonly limits?: LimitReport | undefined;
}

const NONE: readonly string[] = Object.freeze([]);
const MISSING: Decision = { reason: "missing_credential", key: undefined, missingScopes: NONE };
const INVALID: Decision = { reason: "invalid_format", key: undefined, missingScopes: NONE };
const NOT_FOUND: Decision = { reason: "key_not_found", key: undefined, missingScopes: NONE };

/**
 * Decides a request. The first failing check wins, in this order: missing →
 * invalid format → not found → revoked → expired → workspace suspended →
 * key suspended → scope → class → client address (allowed CIDRs) → rate limit.
 * Returns synchronously when the resolver answers from its cache.
 */
export function authorize(
  input: AuthorizeInput,
  resolver: KeyResolver,
  now: number,
  limits?: Limits,
): MaybePromise<Decision> {
  const credential = input.credential;
  if (credential === undefined || credential === "") return MISSING;
  if (parseKey(credential) === undefined) return INVALID;
  const found = resolver.resolve(digestKey(credential));
  if (found instanceof Promise)
    return found.then((key) => count(input, decide(input, key, now), now, limits));
  return count(input, decide(input, found, now), now, limits);
}

/**
 * The limits come last: only a request allowed on every other ground is counted, so a denied request
 * consumes nothing (issue 12). Every decision on an identified key is tallied, except dry runs.
 */
function count(
  input: AuthorizeInput,
  decision: Decision,
  now: number,
  limits: Limits | undefined,
): MaybePromise<Decision> {
  const key = decision.key;
  if (key === undefined || limits === undefined) return decision;
  if (decision.reason !== "allowed") return tallied(decision, input, now, limits);
  const enforced = enforcedLimits(key.terms, limits.tiers);
  if (enforced === undefined) return tallied(decision, input, now, limits);
  const counted = limits.gate.consume(key.keyId, enforced, input.cost, input.dryRun);
  return counted instanceof Promise
    ? counted.then((d) => tallied(limited(key, d), input, now, limits))
    : tallied(limited(key, counted), input, now, limits);
}

function tallied(decision: Decision, input: AuthorizeInput, now: number, limits: Limits): Decision {
  const key = decision.key;
  if (key === undefined || input.dryRun) return decision;
  if (decision.reason === "allowed") limits.tally.allowed(key.keyId, now);
  else limits.tally.denied(key.keyId, now);
  return decision;
}

function limited(key: VerifiedKey, { reason, ...report }: LimitDecision): Decision {
  return { reason, key, missingScopes: NONE, limits: report };
}

function decide(input: AuthorizeInput, found: VerifiedKey | undefined, now: number): Decision {
  if (found === undefined) return NOT_FOUND;
  const terms = found.terms;
  if (input.workspace !== "" && input.workspace !== terms.workspace) return NOT_FOUND;
  if (terms.status === "revoked") return { reason: "key_revoked", key: found, missingScopes: NONE };
  if (terms.expireTime !== null && terms.expireTime <= now) {
    return { reason: "key_expired", key: found, missingScopes: NONE };
  }
  if (terms.workspaceSuspended) return { reason: "workspace_suspended", key: found, missingScopes: NONE };
  if (terms.status === "suspended") return { reason: "key_suspended", key: found, missingScopes: NONE };
  const missing = missingScopes(terms.scopes, input.requiredScopes);
  if (missing.length > 0) return { reason: "insufficient_scope", key: found, missingScopes: missing };
  if (input.className !== "" && terms.classes !== undefined && !terms.classes.has(input.className)) {
    return { reason: "class_not_allowed", key: found, missingScopes: NONE };
  }
  // An unknown client address is outside every network: a key restricted to some is not usable blind.
  const allowedFrom = terms.allowedFrom;
  if (allowedFrom !== undefined && (input.clientIp === undefined || !allowedFrom(input.clientIp))) {
    return { reason: "ip_not_allowed", key: found, missingScopes: NONE };
  }
  return { reason: "allowed", key: found, missingScopes: NONE };
}
