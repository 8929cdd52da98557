import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  dayStart,
  monthStart,
  nextDayStart,
  nextMonthStart,
  nextRefill,
  periodStart,
} from "../../src/domain/usage-period.js";

const at = (iso: string) => Date.parse(iso);

describe("usage periods (UTC)", () => {
  it.each([
    ["2026-03-15T13:45:00.123Z", "2026-03-15T00:00:00.000Z", "2026-03-16T00:00:00.000Z"],
    ["2026-12-31T23:59:59.999Z", "2026-12-31T00:00:00.000Z", "2027-01-01T00:00:00.000Z"],
    ["2028-02-28T12:00:00.000Z", "2028-02-28T00:00:00.000Z", "2028-02-29T00:00:00.000Z"],
    ["2027-02-28T12:00:00.000Z", "2027-02-28T00:00:00.000Z", "2027-03-01T00:00:00.000Z"],
    ["2026-07-01T00:00:00.000Z", "2026-07-01T00:00:00.000Z", "2026-07-02T00:00:00.000Z"],
  ])("day of %s: %s to %s", (now, start, next) => {
    expect(dayStart(at(now))).toBe(at(start));
    expect(nextDayStart(at(now))).toBe(at(next));
    expect(periodStart(at(now), "daily")).toBe(at(start));
    expect(nextRefill(at(now), "daily")).toBe(at(next));
  });

  it.each([
    ["2026-03-15T13:45:00.000Z", "2026-03-01T00:00:00.000Z", "2026-04-01T00:00:00.000Z"],
    ["2026-12-31T23:59:59.999Z", "2026-12-01T00:00:00.000Z", "2027-01-01T00:00:00.000Z"],
    ["2027-01-01T00:00:00.000Z", "2027-01-01T00:00:00.000Z", "2027-02-01T00:00:00.000Z"],
    ["2028-02-29T23:59:59.999Z", "2028-02-01T00:00:00.000Z", "2028-03-01T00:00:00.000Z"],
    ["2100-02-28T00:00:00.000Z", "2100-02-01T00:00:00.000Z", "2100-03-01T00:00:00.000Z"],
    ["2026-01-31T08:00:00.000Z", "2026-01-01T00:00:00.000Z", "2026-02-01T00:00:00.000Z"],
  ])("month of %s: %s to %s", (now, start, next) => {
    expect(monthStart(at(now))).toBe(at(start));
    expect(nextMonthStart(at(now))).toBe(at(next));
    expect(periodStart(at(now), "monthly")).toBe(at(start));
    expect(nextRefill(at(now), "monthly")).toBe(at(next));
  });

  it("property: now lies in [start, next), the next period starts where this one ends", () => {
    const now = fc.integer({ min: at("1970-01-01T00:00:00Z"), max: at("2200-01-01T00:00:00Z") });
    fc.assert(
      fc.property(now, (t) => {
        for (const interval of ["daily", "monthly"] as const) {
          const start = periodStart(t, interval);
          const next = nextRefill(t, interval);
          expect(start).toBeLessThanOrEqual(t);
          expect(next).toBeGreaterThan(t);
          expect(periodStart(next, interval)).toBe(next);
          expect(periodStart(next - 1, interval)).toBe(start);
        }
        expect(new Date(monthStart(t)).getUTCDate()).toBe(1);
      }),
    );
  });
});
