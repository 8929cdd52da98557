// Reads Prometheus's text exposition format as the tests need it: one value per series.

/** Every sample, keyed `name{label="value",…}` exactly as written (labels in the order given). */
export function parsePrometheus(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const split = line.lastIndexOf(" ");
    samples.set(line.slice(0, split), Number(line.slice(split + 1)));
  }
  return samples;
}

/** The sum of every sample of `name` whose labels include each of `labels`. */
export function sumOf(
  samples: Map<string, number>,
  name: string,
  labels: Record<string, string> = {},
): number {
  let sum = 0;
  for (const [series, value] of samples) {
    const brace = series.indexOf("{");
    const seriesName = brace === -1 ? series : series.slice(0, brace);
    if (seriesName !== name) continue;
    const text = brace === -1 ? "" : series.slice(brace);
    if (Object.entries(labels).every(([label, wanted]) => text.includes(`${label}="${wanted}"`)))
      sum += value;
  }
  return sum;
}
