import { create } from "@bufbuild/protobuf";
import {
  type Duration,
  durationFromMs,
  type Timestamp,
  timestampFromMs,
  timestampMs,
} from "@bufbuild/protobuf/wkt";
import type { Decision } from "../domain/authorize.js";
import { decisionMessage } from "../domain/decision-message.js";
import type { IssueKeyInput } from "../domain/issue-key.js";
import type { ApiKey, KeyStatus as DomainKeyStatus } from "../domain/key.js";
import type { Environment as DomainEnvironment } from "../domain/key-format.js";
import type { LimitStatus as DomainLimitStatus } from "../domain/limit-decision.js";
import { fail, type Outcome, ok } from "../domain/outcome.js";
import type { Reason as DomainReason } from "../domain/reason.js";
import { httpStatusOf } from "../domain/reason.js";
import type { UsageCounts } from "../domain/usage-delta.js";
import {
  type AuthorizeResponse,
  AuthorizeResponseSchema,
  type LimitStatus,
  LimitStatusSchema,
} from "../gen/keyward/v1/authorize_service_pb.js";
import {
  Environment,
  type Key,
  KeySchema,
  KeyStatus,
  KeyUsageSchema,
  Reason,
} from "../gen/keyward/v1/key_pb.js";
import type { IssueKeyRequest } from "../gen/keyward/v1/key_service_pb.js";
import {
  creditsFromProto,
  creditsToProto,
  int64,
  rateLimitFromProto,
  rateLimitToProto,
} from "./convert-limits.js";

// Wire ↔ domain conversions, in one place. Timestamps beyond year 9999 are refused, like RFC 3339.
const MAX_SECONDS = 253402300799n;

/** A key and its usage (a KeyView); without usage, Key.usage is left unset: not known, rather than zero. */
export function keyToProto({ key, usage }: { readonly key: ApiKey; readonly usage?: UsageCounts }): Key {
  return create(KeySchema, {
    keyId: key.keyId,
    workspace: key.workspace,
    name: key.name,
    description: key.description,
    keyPrefix: key.keyPrefix,
    scopes: [...key.scopes],
    classes: [...key.classes],
    environment: environmentToProto(key.environment),
    status: statusToProto(key.status),
    createTime: timestampFromMs(key.createTime),
    ...(key.expireTime !== null && { expireTime: timestampFromMs(key.expireTime) }),
    ...(key.revokeTime !== null && { revokeTime: timestampFromMs(key.revokeTime) }),
    revokeReason: key.revokeReason,
    ownerId: key.ownerId,
    metadata: { ...key.metadata },
    updateTime: timestampFromMs(key.updateTime),
    ...(key.suspendTime !== null && { suspendTime: timestampFromMs(key.suspendTime) }),
    suspendReason: key.suspendReason,
    ...(key.lastUsedTime !== null && { lastUsedTime: timestampFromMs(key.lastUsedTime) }),
    rotatedFromKeyId: key.rotatedFromKeyId,
    rotatedToKeyId: key.rotatedToKeyId,
    tier: key.tier,
    ...(key.rateLimit !== undefined && { rateLimit: rateLimitToProto(key.rateLimit) }),
    monthlyQuota: BigInt(key.monthlyQuota),
    ...(key.credits !== undefined && { credits: creditsToProto(key.credits) }),
    allowedCidrs: [...key.allowedCidrs],
    ...(usage !== undefined && {
      usage: create(KeyUsageSchema, {
        requestsToday: BigInt(usage.requestsToday),
        requestsThisMonth: BigInt(usage.requestsThisMonth),
        deniedThisMonth: BigInt(usage.deniedThisMonth),
      }),
    }),
  });
}

export function issueInputFromProto(request: IssueKeyRequest): Outcome<IssueKeyInput> {
  const environment = environmentFromProto(request.environment);
  if (!environment.ok) return environment;
  const expireTime = request.expireTime && timestampToMs(request.expireTime, "expire_time");
  if (expireTime && !expireTime.ok) return expireTime;
  const ttl = request.ttl && durationToMs(request.ttl, "ttl");
  if (ttl && !ttl.ok) return ttl;
  const rateLimit = request.rateLimit && rateLimitFromProto(request.rateLimit, "rate_limit");
  if (rateLimit && !rateLimit.ok) return rateLimit;
  const quota = request.monthlyQuota === undefined ? undefined : int64(request.monthlyQuota, "monthly_quota");
  if (quota && !quota.ok) return quota;
  const credits = request.credits && creditsFromProto(request.credits);
  if (credits && !credits.ok) return credits;
  return ok({
    workspace: request.workspace,
    name: request.name,
    description: request.description,
    scopes: request.scopes,
    classes: request.classes,
    environment: environment.value,
    prefix: request.prefix,
    expireTime: expireTime?.value,
    ttlMs: ttl?.value,
    ownerId: request.ownerId,
    metadata: request.metadata,
    tier: request.tier,
    rateLimit: rateLimit?.value,
    monthlyQuota: quota?.value,
    credits: credits?.value,
    allowedCidrs: request.allowedCidrs,
  });
}

export function decisionToProto(decision: Decision): AuthorizeResponse {
  const found = decision.key;
  const response = create(AuthorizeResponseSchema, {
    allowed: decision.reason === "allowed",
    reason: reasonToProto(decision.reason),
    httpStatus: httpStatusOf(decision.reason),
    message: decisionMessage(decision),
    missingScopes: decision.missingScopes as string[],
  });
  if (found !== undefined) {
    const terms = found.terms;
    response.keyId = found.keyId;
    response.workspace = terms.workspace;
    response.grantedScopes = terms.scopes.granted as string[];
    response.ownerId = terms.ownerId;
    response.metadata = terms.metadata as Record<string, string>;
    response.environment = environmentToProto(terms.environment);
    if (terms.expireTime !== null) response.expireTime = timestampFromMs(terms.expireTime);
  }
  const limits = decision.limits;
  if (limits !== undefined) {
    if (limits.rateLimit !== undefined) response.rateLimit = limitStatusToProto(limits.rateLimit);
    if (limits.quota !== undefined) response.quota = limitStatusToProto(limits.quota);
    if (limits.creditsRemaining !== undefined) response.creditsRemaining = BigInt(limits.creditsRemaining);
    if (limits.retryAfterMs !== undefined) response.retryAfter = durationFromMs(limits.retryAfterMs);
  }
  return response;
}

function limitStatusToProto(status: DomainLimitStatus): LimitStatus {
  return create(LimitStatusSchema, {
    limit: BigInt(status.limit),
    remaining: BigInt(status.remaining),
    resetTime: timestampFromMs(status.resetTime),
  });
}

export function reasonToProto(reason: DomainReason): Reason {
  switch (reason) {
    case "allowed":
      return Reason.ALLOWED;
    case "missing_credential":
      return Reason.MISSING_CREDENTIAL;
    case "invalid_format":
      return Reason.INVALID_FORMAT;
    case "key_not_found":
      return Reason.KEY_NOT_FOUND;
    case "key_revoked":
      return Reason.KEY_REVOKED;
    case "key_expired":
      return Reason.KEY_EXPIRED;
    case "workspace_suspended":
      return Reason.WORKSPACE_SUSPENDED;
    case "key_suspended":
      return Reason.KEY_SUSPENDED;
    case "insufficient_scope":
      return Reason.INSUFFICIENT_SCOPE;
    case "class_not_allowed":
      return Reason.CLASS_NOT_ALLOWED;
    case "route_not_allowed":
      return Reason.ROUTE_NOT_ALLOWED;
    case "credential_in_query":
      return Reason.CREDENTIAL_IN_QUERY;
    case "ip_not_allowed":
      return Reason.IP_NOT_ALLOWED;
    case "rate_limited":
      return Reason.RATE_LIMITED;
    case "quota_exceeded":
      return Reason.QUOTA_EXCEEDED;
    case "credits_exhausted":
      return Reason.CREDITS_EXHAUSTED;
  }
}

export function environmentToProto(environment: DomainEnvironment): Environment {
  switch (environment) {
    case "live":
      return Environment.LIVE;
    case "test":
      return Environment.TEST;
  }
}

export function environmentFromProto(environment: Environment): Outcome<DomainEnvironment | undefined> {
  switch (environment) {
    case Environment.UNSPECIFIED:
      return ok(undefined);
    case Environment.LIVE:
      return ok("live");
    case Environment.TEST:
      return ok("test");
    default:
      return fail("invalid_argument", `unknown environment ${environment as number}`);
  }
}

export function statusFromProto(status: KeyStatus): Outcome<DomainKeyStatus | undefined> {
  switch (status) {
    case KeyStatus.UNSPECIFIED:
      return ok(undefined);
    case KeyStatus.ACTIVE:
      return ok("active");
    case KeyStatus.SUSPENDED:
      return ok("suspended");
    case KeyStatus.REVOKED:
      return ok("revoked");
    default:
      return fail("invalid_argument", `unknown status ${status as number}`);
  }
}

function statusToProto(status: DomainKeyStatus): KeyStatus {
  switch (status) {
    case "active":
      return KeyStatus.ACTIVE;
    case "suspended":
      return KeyStatus.SUSPENDED;
    case "revoked":
      return KeyStatus.REVOKED;
  }
}

export function timestampToMs(timestamp: Timestamp, field: string): Outcome<number> {
  if (
    timestamp.seconds < 0n ||
    timestamp.seconds > MAX_SECONDS ||
    timestamp.nanos < 0 ||
    timestamp.nanos > 999_999_999
  ) {
    return fail("invalid_argument", `${field} is out of range`);
  }
  return ok(timestampMs(timestamp));
}

export function durationToMs(duration: Duration, field: string): Outcome<number> {
  if (duration.seconds > MAX_SECONDS || duration.seconds < -MAX_SECONDS)
    return fail("invalid_argument", `${field} is out of range`);
  return ok(Number(duration.seconds) * 1000 + Math.trunc(duration.nanos / 1_000_000));
}
