// @ts-expect-error the parser ships no type declarations; what it returns is typed below
import parsePrometheusTextFormat from "parse-prometheus-text-format";

/** One metric family as `parse-prometheus-text-format` reads it (prom2json's shape). */
export interface MetricFamily {
  name: string;
  type: "COUNTER" | "GAUGE" | "HISTOGRAM" | "SUMMARY" | "UNTYPED";
  metrics: { labels?: Record<string, string>; value?: string }[];
}

/**
 * Parses a `/metrics` answer with a real Prometheus text-format parser. The parser folds a histogram's series into
 * one sample and drops their labels (it only handles histograms without labels), so the text is parsed twice: as
 * it is, which must succeed, and with histograms read as untyped, so that each `_bucket`, `_sum` and `_count`
 * series comes out as a family of its own with its labels.
 */
export function parsePrometheusText(text: string): MetricFamily[] {
  const parse = parsePrometheusTextFormat as (text: string) => MetricFamily[];
  parse(text);
  const untyped = parse(text.replace(/^# TYPE (\S+) histogram$/gm, "# TYPE $1 untyped"));
  // A histogram's series alternate (buckets, sum, count, for each label set): merge the families of one name.
  const byName = new Map<string, MetricFamily>();
  for (const family of untyped) {
    const known = byName.get(family.name);
    if (known) known.metrics.push(...family.metrics);
    else byName.set(family.name, { ...family, metrics: [...family.metrics] });
  }
  return [...byName.values()];
}

/** The value of the series of `name` with exactly `labels`; 0 when it is absent, as for a counter that never moved. */
export function seriesValue(families: MetricFamily[], name: string, labels: Record<string, string> = {}): number {
  const family = families.find((f) => f.name === name);
  if (!family) throw new Error(`no metric family ${name} in the scrape`);
  const wanted = JSON.stringify(Object.entries(labels).sort());
  const series = family.metrics.find((m) => JSON.stringify(Object.entries(m.labels ?? {}).sort()) === wanted);
  if (!series) return 0;
  return Number(series.value);
}

/** Every non-zero series of `name`, as `label=value,… → value`, sorted. */
export function nonZeroSeries(families: MetricFamily[], name: string): Record<string, number> {
  const family = families.find((f) => f.name === name);
  if (!family) throw new Error(`no metric family ${name} in the scrape`);
  const out: Record<string, number> = {};
  for (const m of family.metrics) {
    const value = Number(m.value);
    if (value === 0) continue;
    const key = Object.entries(m.labels ?? {})
      .sort()
      .map(([k, v]) => `${k}=${v}`)
      .join(",");
    out[key] = value;
  }
  return Object.fromEntries(Object.entries(out).sort());
}
