/**
 * Why a call could not be done now although nothing was wrong with it. A closed set: each is
 * answered UNAVAILABLE at the edge (transport/errors.ts), so that the caller retries later.
 */
export type UnavailableKind =
  /** The store could not be reached or could not complete an operation (StoreError). */
  | "store"
  /** A change was committed, but not every worker is known to enforce it yet (InvalidationUnconfirmed). */
  | "unconfirmed"
  /** The process holding the limit book did not answer in time (LimitsUnanswered). */
  | "limits";

/**
 * An outage, not a bug and not an expected outcome: thrown by the store and the cache below the
 * domain (whose KeyStore throws only on I/O failure), converted once at the edge.
 */
export abstract class Unavailable extends Error {
  abstract readonly kind: UnavailableKind;
}

/** The store could not be reached or could not complete an operation; `cause` is the driver's error, for the log. */
export class StoreError extends Unavailable {
  override readonly name = "StoreError";
  readonly kind = "store";
  constructor(operation: string, cause: unknown) {
    super(`store failed to ${operation}`, { cause });
  }
}

/**
 * A change was committed, but not every worker is known to have forgotten what it replaced: the
 * caller must not take the change as enforced everywhere yet (README, Guarantees).
 */
export class InvalidationUnconfirmed extends Unavailable {
  override readonly name = "InvalidationUnconfirmed";
  readonly kind = "unconfirmed";
}

/** The limit book's process (the cluster primary) did not answer: the request is neither allowed nor counted. */
export class LimitsUnanswered extends Unavailable {
  override readonly name = "LimitsUnanswered";
  readonly kind = "limits";
}

/** Whether an error is an outage (answered UNAVAILABLE) rather than a bug. */
export function isUnavailable(error: unknown): error is Unavailable {
  return error instanceof Unavailable;
}
