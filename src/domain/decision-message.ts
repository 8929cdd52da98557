import type { Decision } from "./authorize.js";
import { describeReason } from "./reason.js";

/** The human-readable message of a decision, with the detail a client needs. Never contains the key. */
export function decisionMessage(decision: Decision): string {
  const base = describeReason(decision.reason);
  switch (decision.reason) {
    case "insufficient_scope":
      return `${base}: missing ${decision.missingScopes.join(", ")}`;
    case "key_expired": {
      const expireTime = decision.key?.terms.expireTime;
      return expireTime == null ? base : `${base} (expired at ${new Date(expireTime).toISOString()})`;
    }
    default:
      return base;
  }
}
