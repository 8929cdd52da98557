import * as hdr from "hdr-histogram-js";

/** An HDR histogram of µs from 1 µs to 60 s, 3 significant digits: what the Node generators record into. */
export function newHistogram(): hdr.Histogram {
  return hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 60_000_000,
    numberOfSignificantValueDigits: 3,
  });
}

/** Latency percentiles of a histogram, µs. */
export interface HistogramPercentiles {
  readonly p50: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
}

export function histogramPercentiles(histogram: hdr.Histogram): HistogramPercentiles {
  return {
    p50: histogram.getValueAtPercentile(50),
    p99: histogram.getValueAtPercentile(99),
    p999: histogram.getValueAtPercentile(99.9),
    max: histogram.maxValue,
  };
}
