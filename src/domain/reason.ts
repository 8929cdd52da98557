/**
 * Why Authorize allowed or denied a request. A closed set: callers switch on
 * it, gateways map it to an HTTP status, and the strings double as the stable
 * `error.code` of JSON denials.
 */
export type Reason =
  /** The key is valid and grants everything required. */
  | "allowed"
  /** No key was presented. */
  | "missing_credential"
  /** Not a well-formed Keyward key, or the checksum does not match (decided without the store). */
  | "invalid_format"
  /** No such key, or the key belongs to another workspace than the one asked about. */
  | "key_not_found"
  /** The key was revoked; this is permanent. */
  | "key_revoked"
  /** The key's expiry time has passed. */
  | "key_expired"
  /** The key's workspace (the account) is suspended: every key of it is denied. */
  | "workspace_suspended"
  /** The key is suspended until an admin resumes it. */
  | "key_suspended"
  /** The key lacks at least one required scope. */
  | "insufficient_scope"
  /** The key is restricted to classes that exclude the requested one. */
  | "class_not_allowed"
  /** Envoy Check: no route rule matched and the default is to deny. */
  | "route_not_allowed"
  /** Envoy Check: the key was sent in the query string, where it leaks into logs; never accepted. */
  | "credential_in_query"
  /** The client address is outside the key's allowed CIDRs (or unknown while the key has some). */
  | "ip_not_allowed"
  /** The key's rate limit is used up for now. */
  | "rate_limited"
  /** The key's monthly quota is used up until the next calendar month (UTC). */
  | "quota_exceeded"
  /** The key's credits are used up until their next refill, if any. */
  | "credits_exhausted";

/** The HTTP status a gateway should answer for a reason. */
export function httpStatusOf(reason: Reason): 200 | 401 | 403 | 429 {
  switch (reason) {
    case "allowed":
      return 200; // OK
    case "missing_credential":
      return 401; // Unauthorized: present a key
    case "invalid_format":
      return 401; // Unauthorized: the key is not one of ours
    case "key_not_found":
      return 401; // Unauthorized: unknown key
    case "key_revoked":
      return 401; // Unauthorized: the key is dead
    case "key_expired":
      return 401; // Unauthorized: the key is dead
    case "workspace_suspended":
      return 403; // Forbidden: the account may not be used now
    case "key_suspended":
      return 403; // Forbidden: the key is known but may not be used now
    case "insufficient_scope":
      return 403; // Forbidden: authenticated, not permitted
    case "class_not_allowed":
      return 403; // Forbidden: authenticated, not permitted
    case "route_not_allowed":
      return 403; // Forbidden: nothing allows this route
    case "credential_in_query":
      return 401; // Unauthorized: present the key in a header instead
    case "ip_not_allowed":
      return 403; // Forbidden: valid key, wrong place
    case "rate_limited":
      return 429; // Too Many Requests: retry after the wait given
    case "quota_exceeded":
      return 429; // Too Many Requests: until the month ends
    case "credits_exhausted":
      return 429; // Too Many Requests: until the credits are refilled
  }
}

/** A short, human-readable explanation; never contains key material. */
export function describeReason(reason: Reason): string {
  switch (reason) {
    case "allowed":
      return "API key is valid";
    case "missing_credential":
      return "No API key presented: send it in the x-api-key header or as authorization: Bearer <key>";
    case "invalid_format":
      return "The presented value is not a well-formed API key (check for a typo)";
    case "key_not_found":
      return "API key not found";
    case "key_revoked":
      return "API key has been revoked";
    case "key_expired":
      return "API key has expired";
    case "workspace_suspended":
      return "The API key's workspace is suspended";
    case "key_suspended":
      return "API key is suspended";
    case "insufficient_scope":
      return "API key lacks a required scope";
    case "class_not_allowed":
      return "API key is not allowed for this class";
    case "route_not_allowed":
      return "No route policy allows this request";
    case "credential_in_query":
      return "API keys are not accepted in the query string, where they leak into logs: send the key in the x-api-key header or as authorization: Bearer <key>";
    case "ip_not_allowed":
      return "API key may not be used from this address";
    case "rate_limited":
      return "Rate limit exceeded";
    case "quota_exceeded":
      return "Monthly quota exceeded";
    case "credits_exhausted":
      return "No credits left";
  }
}
