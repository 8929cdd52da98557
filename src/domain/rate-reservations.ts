import type { RateTerms } from "./global-rate.js";
import type { LimitStatus } from "./limit-decision.js";

/** Reserved units going back to the shared window (GlobalRateWindows.release). */
export interface ReservationRelease {
  readonly keyId: string;
  readonly rate: RateTerms;
  readonly bucket: number;
  readonly units: number;
}

/** Options of createRateReservations. */
export interface RateReservationsOptions {
  /** Reservations held at most; past it the least recently used is released. */
  readonly maxKeys: number;
  readonly release: (release: ReservationRelease) => void;
}

/** Units taken from a reservation for a worker's lease (RateReservations.take). */
export interface ReservationSlice {
  readonly units: number;
  /** Which reservation: its `reservedAt`, the lease's grantedAt, named again by giveBack. */
  readonly reservedAt: number;
  readonly bucket: number;
  readonly expiresAt: number;
}

/** What the shared window reserved for this replica: see GlobalRateAnswer. `expiresAt` is local time. */
export interface Reservation {
  readonly units: number;
  readonly bucket: number;
  readonly expiresAt: number;
  /** The key's rate status when it was granted (remaining excludes the reserved units). */
  readonly status: LimitStatus;
}

/** A replica's reservations, one per key at most; see createRateReservations. */
export interface RateReservations {
  /** The rate status after spending `cost` from the key's reservation, or undefined when it cannot. */
  spend(keyId: string, rate: RateTerms, cost: number, now: number): LimitStatus | undefined;
  /**
   * Keeps a reservation for the key under `rate`, received at `now`, releasing the key's previous one.
   * Its `reservedAt` is `now`, or 1 ms past the previous one's: it names the reservation.
   */
  hold(keyId: string, rate: RateTerms, reservation: Reservation, now: number): void;
  /**
   * Takes `units` from the key's reservation (all it has if fewer, none below `least`) for a worker's
   * lease, or undefined; they are spent by the worker, within the same sub-bucket.
   */
  take(
    keyId: string,
    rate: RateTerms,
    units: number,
    least: number,
    now: number,
  ): ReservationSlice | undefined;
  /** Puts `units` back into the reservation named by `reservedAt`; false when it is gone or expired. */
  giveBack(keyId: string, reservedAt: number, units: number, now: number): boolean;
  /** Releases every reservation expired at `now`. */
  sweep(now: number): void;
  /** Releases every reservation (the server stops). */
  releaseAll(): void;
  readonly size: number;
}

interface Held {
  readonly rate: RateTerms;
  readonly reservedAt: number;
  readonly bucket: number;
  readonly expiresAt: number;
  readonly status: LimitStatus;
  units: number;
  spent: number;
}

/**
 * The one home of the units a replica reserved from the shared rate windows (STYLE.md habit 17), so that
 * a key far below its limit costs no Redis round trip. Like a worker's lease (limit-lease.ts), every unit
 * was counted in the shared window's sub-bucket before it is spent, and is spent only before that
 * sub-bucket ends, so the window's guarantee holds as if each request had been counted there. It forgets a
 * reservation when it expires, when the key's rate terms change, when a newer one replaces it, past
 * `maxKeys` (least recently used first) and when the server stops; each time with its unspent units
 * released. The status reported from a reservation is the window's at the grant minus what this replica
 * spent since: other replicas may have spent meanwhile.
 */
export function createRateReservations(options: RateReservationsOptions): RateReservations {
  // A Map iterates in insertion order: re-inserting on use keeps the least recently used first.
  const held = new Map<string, Held>();

  function drop(keyId: string, entry: Held): void {
    held.delete(keyId);
    if (entry.units > 0)
      options.release({ keyId, rate: entry.rate, bucket: entry.bucket, units: entry.units });
  }

  return {
    spend(keyId, rate, cost, now) {
      const entry = held.get(keyId);
      if (entry === undefined) return undefined;
      const changed = entry.rate.limit !== rate.limit || entry.rate.windowMs !== rate.windowMs;
      if (!(now < entry.expiresAt) || changed) {
        drop(keyId, entry);
        return undefined;
      }
      if (entry.units < cost) return undefined;
      entry.units -= cost;
      entry.spent += cost;
      held.delete(keyId);
      held.set(keyId, entry);
      return { ...entry.status, remaining: Math.max(0, entry.status.remaining - entry.spent) };
    },
    hold(keyId, rate, reservation, now) {
      const previous = held.get(keyId);
      if (previous !== undefined) drop(keyId, previous);
      const reservedAt = previous === undefined ? now : Math.max(now, previous.reservedAt + 1);
      held.set(keyId, { ...reservation, rate, reservedAt, status: { ...reservation.status }, spent: 0 });
      if (held.size > options.maxKeys) {
        const [oldest, entry] = held.entries().next().value as [string, Held];
        drop(oldest, entry);
      }
    },
    take(keyId, rate, units, least, now) {
      const entry = held.get(keyId);
      if (entry === undefined || entry.rate.limit !== rate.limit || entry.rate.windowMs !== rate.windowMs)
        return undefined;
      const taken = Math.min(units, entry.units);
      if (!(now < entry.expiresAt) || taken < least) return undefined;
      entry.units -= taken;
      return { units: taken, reservedAt: entry.reservedAt, bucket: entry.bucket, expiresAt: entry.expiresAt };
    },
    giveBack(keyId, reservedAt, units, now) {
      const entry = held.get(keyId);
      if (entry === undefined || entry.reservedAt !== reservedAt || !(now < entry.expiresAt)) return false;
      entry.units += units;
      return true;
    },
    sweep(now) {
      for (const [keyId, entry] of held) if (!(now < entry.expiresAt)) drop(keyId, entry);
    },
    releaseAll() {
      for (const [keyId, entry] of held) drop(keyId, entry);
    },
    get size() {
      return held.size;
    },
  };
}
