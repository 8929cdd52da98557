import { type Admin, authenticateAdmin } from "../domain/admin-access.js";
import type { Caller } from "../domain/audit.js";
import type { Clock } from "../domain/clock.js";
import { bearerToken } from "../domain/credential.js";
import type { KeyResolver } from "../domain/key-resolver.js";
import type { Outcome } from "../domain/outcome.js";
import { withoutKeys } from "../domain/secret-input.js";
import { failureError } from "./errors.js";
import type { CallContext } from "./handler.js";

/** The authenticated admin of a management call and who it is, for the audit trail. */
export interface AdminCall {
  readonly admin: Admin;
  readonly caller: Caller;
  /** The call's `x-request-id`, carried into its log line. */
  readonly requestId: string | undefined;
}

/** Authenticates the call's bearer key as an admin, or throws UNAUTHENTICATED / PERMISSION_DENIED. */
export async function adminCall(
  resolver: KeyResolver,
  clock: Clock,
  context: CallContext,
): Promise<AdminCall> {
  const header = context.header("authorization");
  const outcome = await authenticateAdmin(resolver, header && bearerToken(header), clock.now());
  if (!outcome.ok) throw failureError(outcome.error);
  const admin = outcome.value;
  return {
    admin,
    // The user agent is stored in the audit trail as sent, but for a key in it.
    caller: {
      actorKeyId: admin.keyId,
      peer: context.peer,
      userAgent: withoutKeys(context.header("user-agent") ?? ""),
    },
    requestId: requestIdOf(context),
  };
}

/** A request id as sent, at most 200 characters and never anything shaped like a key. */
function requestIdOf(context: CallContext): string | undefined {
  const sent = context.header("x-request-id");
  return sent === undefined || sent === "" ? undefined : withoutKeys(sent.slice(0, 200));
}

/** The value of an Outcome, or the error it carries, thrown at the edge. */
export function unwrap<T>(outcome: Outcome<T>): T {
  if (!outcome.ok) throw failureError(outcome.error);
  return outcome.value;
}
