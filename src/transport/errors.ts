import { Code, ConnectError } from "@connectrpc/connect";
import type { Failure, FailureCode } from "../domain/outcome.js";
import { isUnavailable, type Unavailable } from "../domain/unavailable.js";
import type { Logger } from "../log.js";

/** The gRPC code of an expected failure. */
export function codeOf(code: FailureCode): Code {
  switch (code) {
    case "invalid_argument":
      return Code.InvalidArgument; // the request is wrong; do not retry it unchanged
    case "unauthenticated":
      return Code.Unauthenticated; // no valid credential
    case "permission_denied":
      return Code.PermissionDenied; // valid credential, not allowed
    case "not_found":
      return Code.NotFound; // no such target
    case "failed_precondition":
      return Code.FailedPrecondition; // the target's state forbids it
    case "already_exists":
      return Code.AlreadyExists; // the target exists already
    case "resource_exhausted":
      return Code.ResourceExhausted; // a limit is reached
  }
}

export function failureError(failure: Failure): ConnectError {
  return new ConnectError(failure.message, codeOf(failure.code));
}

export function invalidArgument(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument);
}

/**
 * Converts anything a handler threw into the error the caller sees. The cause
 * goes to the log only: callers get a stable code and a short message, never a
 * stack trace, a query or key material.
 */
export function toRpcError(error: unknown, log: Logger, method: string): ConnectError {
  if (error instanceof ConnectError) return error;
  if (isUnavailable(error)) return unavailableError(error, log, method);
  log.error("unexpected error", { method, error });
  return new ConnectError("internal error", Code.Internal);
}

function unavailableError(error: Unavailable, log: Logger, method: string): ConnectError {
  switch (error.kind) {
    case "store":
      log.error("store unavailable", { method, error });
      return new ConnectError("the key store is unavailable; retry later", Code.Unavailable);
    case "unconfirmed":
      // Committed but not yet known to be enforced by every worker (the bus logged it): the caller must not rely on it yet.
      return new ConnectError(error.message, Code.Unavailable);
    case "limits":
      log.error("limit book unavailable", { method, error });
      return new ConnectError("rate limits cannot be checked now; retry later", Code.Unavailable);
  }
}
