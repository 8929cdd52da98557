/**
 * The calendar periods that usage is counted in and credits are refilled on (issue 12). All UTC, so that
 * a key's month is the same on every instance whatever its time zone; Date.UTC carries month 12 into the
 * next year and knows leap years.
 */

/** How often a key's credits are topped up; the stored `credits.refill.interval`. */
export type RefillInterval = "daily" | "monthly";

const DAY_MS = 86_400_000;

/** Start of the UTC day holding `now` (ms since the epoch). */
export function dayStart(now: number): number {
  return Math.floor(now / DAY_MS) * DAY_MS;
}

/** Start of the UTC day after the one holding `now`. */
export function nextDayStart(now: number): number {
  return dayStart(now) + DAY_MS;
}

/** Start of the UTC calendar month holding `now`. */
export function monthStart(now: number): number {
  const date = new Date(now);
  return Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1);
}

/** Start of the UTC calendar month after the one holding `now`: when a monthly quota resets. */
export function nextMonthStart(now: number): number {
  const date = new Date(now);
  return Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1);
}

/** Start of the current period of an interval: the refill that `now` is past. */
export function periodStart(now: number, interval: RefillInterval): number {
  switch (interval) {
    case "daily":
      return dayStart(now);
    case "monthly":
      return monthStart(now);
  }
}

/** When credits refilled on `interval` are next topped up after `now`. */
export function nextRefill(now: number, interval: RefillInterval): number {
  switch (interval) {
    case "daily":
      return nextDayStart(now);
    case "monthly":
      return nextMonthStart(now);
  }
}
