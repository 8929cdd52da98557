import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { bucketWidthMs, checkRate, createRateWindow, type RateWindow } from "../../src/domain/rate-limit.js";

const MINUTE = 60_000;
const T0 = Date.UTC(2026, 0, 1);

// The reference model: every allowed request as [time, cost]; the cost allowed in (t − length, t], or in
// [t − length, t] when `closed`.
function allowedIn(
  log: readonly (readonly [number, number])[],
  t: number,
  length: number,
  closed = false,
): number {
  let sum = 0;
  for (const [time, cost] of log)
    if ((closed ? time >= t - length : time > t - length) && time <= t) sum += cost;
  return sum;
}

function copy(window: RateWindow): RateWindow {
  return { ...window, counts: window.counts.slice() };
}

describe("checkRate", () => {
  it("free tier (10/min): a burst of 11 lets 10 through and tells the 11th when to retry", () => {
    const window = createRateWindow(MINUTE);
    const results = Array.from({ length: 11 }, () => ({ ...checkRate(window, 10, T0, 1) }));
    expect(results.filter((r) => r.allowed)).toHaveLength(10);
    expect(results[9]).toMatchObject({ allowed: true, remaining: 0, retryAfterMs: 0 });
    const last = results[10];
    expect(last?.allowed).toBe(false);
    expect(last?.remaining).toBe(0);
    expect(last?.retryAfterMs).toBeGreaterThan(0);
    // The burst sits in one sub-bucket, which leaves the window a minute and a bucket later.
    expect(last?.retryAfterMs).toBe(MINUTE + bucketWidthMs(MINUTE));
    expect(checkRate(window, 10, T0 + MINUTE, 1).allowed).toBe(false);
    expect(checkRate(window, 10, T0 + (last?.retryAfterMs ?? 0), 1).allowed).toBe(true);
  });

  it("does not let 2× through at a boundary, nor the 19 per minute GCRA allows after a burst", () => {
    const window = createRateWindow(MINUTE);
    for (let i = 0; i < 10; i++) checkRate(window, 10, T0 + MINUTE - 1, 1);
    // A fixed window would reset here; GCRA would allow one call every 6 s from now on.
    for (let s = 0; s < 60; s += 6)
      expect(checkRate(window, 10, T0 + MINUTE + s * 1000, 1).allowed).toBe(false);
  });

  it("counts cost, denies a cost above the limit for good, and reports remaining and reset", () => {
    const window = createRateWindow(1000);
    const first = { ...checkRate(window, 5, T0, 3) };
    expect(first).toMatchObject({ allowed: true, remaining: 2 });
    expect(first.resetTime).toBeGreaterThan(T0 + 1000);
    expect(first.resetTime).toBeLessThanOrEqual(T0 + 1000 + bucketWidthMs(1000));
    expect(checkRate(window, 5, T0, 6)).toMatchObject({
      allowed: false,
      remaining: 2,
      retryAfterMs: Infinity,
    });
    expect(checkRate(window, 5, T0, 3)).toMatchObject({ allowed: false, remaining: 2 });
    expect(checkRate(window, 5, T0, 2)).toMatchObject({ allowed: true, remaining: 0 });
  });

  it("a dry run decides without counting", () => {
    const window = createRateWindow(MINUTE);
    for (let i = 0; i < 3; i++)
      expect(checkRate(window, 3, T0, 1, true)).toMatchObject({ allowed: true, remaining: 2 });
    expect(checkRate(window, 3, T0, 3).allowed).toBe(true);
    expect(checkRate(window, 3, T0, 1, true).allowed).toBe(false);
  });

  it("a lowered limit reports nothing remaining rather than a negative count", () => {
    const window = createRateWindow(MINUTE);
    for (let i = 0; i < 5; i++) checkRate(window, 5, T0, 1);
    expect(checkRate(window, 2, T0 + 1000, 1)).toMatchObject({ allowed: false, remaining: 0 });
  });

  it("a clock that steps back counts as standing still", () => {
    const window = createRateWindow(MINUTE);
    expect(checkRate(window, 1, T0 + MINUTE, 1).allowed).toBe(true);
    expect(checkRate(window, 1, T0, 1).allowed).toBe(false);
  });

  const scenario = fc.record({
    limit: fc.integer({ min: 1, max: 20 }),
    windowMs: fc.oneof(fc.integer({ min: 1, max: 120 }), fc.integer({ min: 121, max: 5000 })),
    steps: fc.array(
      fc.record({ gap: fc.nat({ max: 100 }), scale: fc.nat({ max: 3 }), cost: fc.nat({ max: 6 }) }),
      {
        maxLength: 150,
      },
    ),
  });

  it("property: never more than the limit in a window; a denial only when the window plus one bucket is full", () => {
    fc.assert(
      fc.property(scenario, ({ limit, windowMs, steps }) => {
        const window = createRateWindow(windowMs);
        const g = bucketWidthMs(windowMs);
        const log: [number, number][] = [];
        let now = T0;
        for (const { gap, scale, cost: raw } of steps) {
          // Gaps from 0 to several windows, so that bursts, steady traffic and idle keys all occur.
          now += Math.floor((gap * windowMs * scale) / 100);
          const cost = Math.max(1, Math.min(raw, limit + 1));
          const probe = copy(window);
          const d = { ...checkRate(window, limit, now, cost) };
          if (d.allowed) {
            expect(allowedIn(log, now, windowMs, true) + cost).toBeLessThanOrEqual(limit);
            log.push([now, cost]);
            expect(d.retryAfterMs).toBe(0);
            expect(d.resetTime).toBeGreaterThan(now);
          } else {
            expect(allowedIn(log, now, windowMs + g) + cost).toBeGreaterThan(limit);
            if (cost <= limit) {
              // retryAfterMs is exact: the same request is allowed then and not a millisecond before.
              expect(d.retryAfterMs).toBeGreaterThan(0);
              expect(d.retryAfterMs).toBeLessThanOrEqual(windowMs + g);
              expect(checkRate(copy(probe), limit, now + d.retryAfterMs, cost).allowed).toBe(true);
              expect(checkRate(copy(probe), limit, now + d.retryAfterMs - 1, cost).allowed).toBe(false);
            }
          }
          // remaining never overstates what the window allows, and understates it by at most one bucket.
          expect(d.remaining).toBeGreaterThanOrEqual(Math.max(0, limit - allowedIn(log, now, windowMs + g)));
          expect(d.remaining).toBeLessThanOrEqual(limit - allowedIn(log, now, windowMs));
          // After resetTime the whole limit is available again.
          expect(checkRate(copy(window), limit, Math.max(d.resetTime, now), limit, true).allowed).toBe(true);
        }
        // The same guarantee stated over the whole log: every window ending at an allowed request.
        for (const [t] of log) expect(allowedIn(log, t, windowMs, true)).toBeLessThanOrEqual(limit);
      }),
      { numRuns: 1000 },
    );
  });
});
