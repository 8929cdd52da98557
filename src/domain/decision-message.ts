import type { Decision } from "./authorize.js";
import { describeReason } from "./reason.js";
import { REQUEST_LIMITS } from "./request-limits.js";

/** The human-readable message of a decision, with the detail a client needs. Never contains the key. */
export function decisionMessage(decision: Decision): string {
  const base = describeReason(decision.reason);
  switch (decision.reason) {
    case "insufficient_scope":
      return `${base}: missing ${scopeList(decision.missingScopes)}`;
    case "key_expired": {
      const expireTime = decision.key?.terms.expireTime;
      return expireTime == null ? base : `${base} (expired at ${new Date(expireTime).toISOString()})`;
    }
    default:
      return base;
  }
}

// The message names a few scopes; missing_scopes has them all. Listing every one here made the
// answer grow with the request (issue 10: 800,000 scopes gave an 8 MB answer).
function scopeList(scopes: readonly string[]): string {
  const shown = REQUEST_LIMITS.scopesInMessage;
  if (scopes.length <= shown) return scopes.join(", ");
  return `${scopes.slice(0, shown).join(", ")} and ${scopes.length - shown} more`;
}
