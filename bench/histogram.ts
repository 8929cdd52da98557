import * as hdr from "hdr-histogram-js";

// Every latency percentile of the bench comes from an HDR histogram (hdr-histogram-js): those the
// Node generators record, h2load's log file and the soak's operations alike, so one report never
// mixes two ways of computing a p99. 3 significant digits: a value is exact to within 0.1 %.

/** An HDR histogram of µs from 1 µs to 60 s, 3 significant digits. */
export function newHistogram(): hdr.Histogram {
  return hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 60_000_000,
    numberOfSignificantValueDigits: 3,
  });
}

/** Records a latency in µs: rounded, and at least 1 (the histogram's lowest value). */
export function recordUs(histogram: hdr.Histogram, us: number): void {
  histogram.recordValue(Math.max(1, Math.round(us)));
}

/** Latency percentiles of a histogram, µs. */
export interface HistogramPercentiles {
  readonly p50: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
}

/**
 * Percentiles as the histogram gives them (the top of their value's bucket), but never above the
 * largest value recorded, which hdr-histogram-js keeps exactly: a p99.9 a few µs above the max
 * would only puzzle a reader.
 */
export function histogramPercentiles(histogram: hdr.Histogram): HistogramPercentiles {
  const max = histogram.maxValue;
  const at = (percentile: number) => Math.min(histogram.getValueAtPercentile(percentile), max);
  return { p50: at(50), p99: at(99), p999: at(99.9), max };
}
