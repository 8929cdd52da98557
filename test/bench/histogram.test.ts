import { describe, expect, it } from "vitest";
import { histogramPercentiles, newHistogram, recordUs } from "../../bench/histogram.js";

// Every percentile in the bench's report comes from these histograms (3 significant digits).

describe("histogramPercentiles", () => {
  it("gives nearest-rank percentiles to within 0.1 %", () => {
    const histogram = newHistogram();
    for (let us = 1; us <= 100_000; us++) recordUs(histogram, us);
    const p = histogramPercentiles(histogram);
    expect(p.p50 / 50_000).toBeCloseTo(1, 2);
    expect(p.p99 / 99_000).toBeCloseTo(1, 2);
    expect(p.p999 / 99_900).toBeCloseTo(1, 2);
    expect(p.max).toBe(100_000);
  });

  it("never reports a percentile above the largest value recorded", () => {
    const histogram = newHistogram();
    recordUs(histogram, 11_839.4);
    expect(histogramPercentiles(histogram)).toEqual({ p50: 11_839, p99: 11_839, p999: 11_839, max: 11_839 });
  });

  it("records fractions of a µs rounded, and at least 1 µs", () => {
    const histogram = newHistogram();
    recordUs(histogram, 0.2);
    expect(histogram.minNonZeroValue).toBe(1);
    expect(histogram.totalCount).toBe(1);
  });
});
