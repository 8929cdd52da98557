/**
 * Why a management call could not be done. Like the gRPC codes they map to,
 * the set is closed; transport/errors.ts converts each one at the edge.
 */
export type FailureCode =
  /** The request itself is wrong (a bad scope, a missing name); retrying it unchanged fails again. */
  | "invalid_argument"
  /** No credential, or one that is not a valid key. */
  | "unauthenticated"
  /** A valid key that may not do this (not an admin, another workspace, suspended). */
  | "permission_denied"
  /** The target does not exist. */
  | "not_found"
  /** The target is in a state that forbids the change (e.g. revoked). */
  | "failed_precondition"
  /** The target exists already (e.g. a workspace id). */
  | "already_exists"
  /** A limit is reached (e.g. a workspace's max_keys). */
  | "resource_exhausted";

/** An expected failure, returned as a value. The message is safe to show to the caller. */
export interface Failure {
  readonly code: FailureCode;
  readonly message: string;
}

/** A failed Outcome: assignable to every Outcome<T>, so a check's refusal is returned as it is. */
export type Refusal = { readonly ok: false; readonly error: Failure };

/** The result of a call that can fail in an expected way. */
export type Outcome<T> = { readonly ok: true; readonly value: T } | Refusal;

export function ok<T>(value: T): Outcome<T> {
  return { ok: true, value };
}

export function fail(code: FailureCode, message: string): Refusal {
  return { ok: false, error: { code, message } };
}
