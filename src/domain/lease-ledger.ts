import type { EnforcedLimits, LimitDecision, LimitStatus } from "./limit-decision.js";
import { type Lease, limitsFingerprint } from "./limit-lease.js";

/** Unspent units going back to the primary's book (LimitBook.refund). */
export interface LeaseRelease {
  readonly keyId: string;
  /** The terms the lease was granted under. */
  readonly limits: EnforcedLimits;
  readonly units: number;
  readonly grantedAt: number;
}

/** Options of createLeaseLedger. */
export interface LeaseLedgerOptions {
  /** Leases held at most; past it the least recently used is released. */
  readonly maxKeys: number;
  /** Sends unspent units back; called for every lease dropped with units left. */
  readonly release: (release: LeaseRelease) => void;
}

/** A worker's leases, one per key at most; see createLeaseLedger. `now` is ms since the epoch. */
export interface LeaseLedger {
  /**
   * A decision spent from the key's lease, or undefined when the primary must be asked: no lease, one
   * granted under other terms or expired (both dropped and released), or fewer units left than `cost`.
   */
  spend(keyId: string, limits: EnforcedLimits, cost: number, now: number): LimitDecision | undefined;
  /**
   * Keeps a lease granted with `decision` under `limits` (the decision's room counts the lease's units);
   * the key's previous lease, if any, is released.
   */
  hold(keyId: string, limits: EnforcedLimits, lease: Lease, decision: LimitDecision): void;
  /** Releases every lease expired at `now` (the worker's periodic sweep). */
  sweep(now: number): void;
  /** Releases every lease (the worker stops). */
  releaseAll(): void;
  /** How many leases are held. */
  readonly size: number;
}

interface Held {
  readonly limits: EnforcedLimits;
  readonly fingerprint: string;
  readonly grantedAt: number;
  readonly expiresAt: number;
  units: number;
  spent: number;
  readonly rateLimit: LimitStatus | undefined;
  readonly quota: LimitStatus | undefined;
  readonly creditsRemaining: number | undefined;
}

/**
 * The one home of a worker's leases (STYLE.md habit 17). It forgets a lease when it expires (on the key's
 * next request or the sweep), when the key's terms change (the next request's fingerprint differs), when
 * it is replaced by a newer one, when more than `maxKeys` are held (least recently used first), and when
 * the worker stops; each time with its unspent units released. A decision answered from a lease reports
 * the room as the primary saw it at the grant minus what this worker spent since: approximate, since
 * other workers may have spent meanwhile.
 */
export function createLeaseLedger(options: LeaseLedgerOptions): LeaseLedger {
  // A Map iterates in insertion order: re-inserting on use keeps the least recently used first.
  const leases = new Map<string, Held>();

  function drop(keyId: string, held: Held): void {
    leases.delete(keyId);
    if (held.units > 0)
      options.release({ keyId, limits: held.limits, units: held.units, grantedAt: held.grantedAt });
  }

  return {
    spend(keyId, limits, cost, now) {
      const held = leases.get(keyId);
      if (held === undefined) return undefined;
      // The same terms give the same limits object (enforcedLimits): the fingerprint only when they differ.
      const changed = held.limits !== limits && held.fingerprint !== limitsFingerprint(limits);
      if (!(now < held.expiresAt) || changed) {
        drop(keyId, held);
        return undefined;
      }
      // Before its grant only if a clock stepped back: spent then, a unit would precede its sub-bucket.
      if (held.units < cost || now < held.grantedAt) return undefined;
      held.units -= cost;
      held.spent += cost;
      leases.delete(keyId);
      leases.set(keyId, held);
      const decision: LimitDecision = { reason: "allowed" };
      if (held.rateLimit !== undefined)
        decision.rateLimit = { ...held.rateLimit, remaining: held.rateLimit.remaining - held.spent };
      if (held.quota !== undefined)
        decision.quota = { ...held.quota, remaining: held.quota.remaining - held.spent };
      if (held.creditsRemaining !== undefined) decision.creditsRemaining = held.creditsRemaining - held.spent;
      return decision;
    },
    hold(keyId, limits, lease, decision) {
      const previous = leases.get(keyId);
      if (previous !== undefined) drop(keyId, previous);
      leases.set(keyId, {
        limits,
        fingerprint: limitsFingerprint(limits),
        grantedAt: lease.grantedAt,
        expiresAt: lease.expiresAt,
        units: lease.units,
        spent: 0,
        // Copied: the caller goes on with the decision object.
        rateLimit: decision.rateLimit && { ...decision.rateLimit },
        quota: decision.quota && { ...decision.quota },
        creditsRemaining: decision.creditsRemaining,
      });
      if (leases.size > options.maxKeys) {
        const [oldest, held] = leases.entries().next().value as [string, Held];
        drop(oldest, held);
      }
    },
    sweep(now) {
      for (const [keyId, held] of leases) if (!(now < held.expiresAt)) drop(keyId, held);
    },
    releaseAll() {
      for (const [keyId, held] of leases) drop(keyId, held);
    },
    get size() {
      return leases.size;
    },
  };
}
