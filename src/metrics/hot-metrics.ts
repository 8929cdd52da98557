// Metrics for the hot path: recording is arithmetic on plain numbers, with no label hashing or
// allocation (prom-client's own children hash their labels on every call). The registry reads them at
// scrape time through `get`, in prom-client's shape, so they aggregate across workers like its own.

/** What prom-client's registry and AggregatorRegistry read from a metric. */
export interface ScrapedMetric {
  readonly name: string;
  readonly help: string;
  readonly type: "counter" | "gauge" | "histogram";
  /** How the cluster primary merges its workers' values (prom-client's aggregators). */
  readonly aggregator: "sum" | "max";
  get(): {
    name: string;
    help: string;
    type: string;
    aggregator: string;
    values: { metricName?: string; labels: Record<string, string | number>; value: number }[];
  };
  reset(): void;
}

/** One label set of a HotHistogram. */
export interface HotSeries {
  observe(value: number): void;
}

/** A histogram whose label sets are fixed when it is made (series), observed without allocation. */
export class HotHistogram implements ScrapedMetric {
  readonly type = "histogram";
  readonly aggregator = "sum";
  private readonly all: { labels: Record<string, string>; counts: Float64Array; sum: number }[] = [];

  constructor(
    readonly name: string,
    readonly help: string,
    /** Upper bounds, ascending, in the unit observed. */
    private readonly bounds: readonly number[],
  ) {}

  series(labels: Record<string, string>): HotSeries {
    const entry = { labels, counts: new Float64Array(this.bounds.length + 1), sum: 0 };
    this.all.push(entry);
    const bounds = this.bounds;
    return {
      observe(value) {
        let i = 0;
        while (i < bounds.length && value > (bounds[i] as number)) i++;
        entry.counts[i] = (entry.counts[i] as number) + 1;
        entry.sum += value;
      },
    };
  }

  get() {
    const values: ReturnType<ScrapedMetric["get"]>["values"] = [];
    for (const { labels, counts, sum } of this.all) {
      let cumulative = 0;
      for (let i = 0; i < counts.length; i++) {
        cumulative += counts[i] as number;
        const le = i < this.bounds.length ? (this.bounds[i] as number) : "+Inf";
        values.push({ metricName: `${this.name}_bucket`, labels: { ...labels, le }, value: cumulative });
      }
      values.push({ metricName: `${this.name}_sum`, labels, value: sum });
      values.push({ metricName: `${this.name}_count`, labels, value: cumulative });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    for (const entry of this.all) {
      entry.counts.fill(0);
      entry.sum = 0;
    }
  }
}

/** A counter over a fixed grid of label sets, counted by index. */
export class HotCounter implements ScrapedMetric {
  readonly type = "counter";
  readonly aggregator = "sum";
  readonly counts: Float64Array;

  constructor(
    readonly name: string,
    readonly help: string,
    /** One label set per index of `counts`. */
    private readonly labels: readonly Record<string, string>[],
  ) {
    this.counts = new Float64Array(labels.length);
  }

  get() {
    const values = this.labels.map((labels, i) => ({ labels, value: this.counts[i] as number }));
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    this.counts.fill(0);
  }
}

/**
 * A metric read from elsewhere at scrape time (a cache's counts, a flush's age): `read` returns one
 * value per label set. Counters must only grow; a gauge of several processes merges by `aggregator`.
 */
export class ReadMetric implements ScrapedMetric {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: "counter" | "gauge",
    private readonly read: () => readonly { labels: Record<string, string>; value: number }[],
    readonly aggregator: "sum" | "max" = "sum",
  ) {}

  get() {
    const values = this.read().map(({ labels, value }) => ({ labels, value }));
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {}
}
