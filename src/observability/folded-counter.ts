import { Counter, type CounterConfiguration, type LabelValues } from "prom-client";

/** One bound series of a folded counter: an increment is one addition. */
export class CounterSeries {
  pending = 0;

  constructor(readonly labels: LabelValues<string>) {}

  inc(): void {
    this.pending++;
  }
}

/**
 * A prom-client counter whose hot-path increments are plain additions on bound series, folded into the counter
 * when the registry is read (prom-client's `collect`). prom-client's own `labels(...).inc()` hashes and
 * validates the labels on every call, which is most of a metric's cost on the run path. A series appears once it
 * has been incremented, as with prom-client.
 */
export class FoldedCounter<T extends string> {
  readonly counter: Counter<T>;
  readonly #series: CounterSeries[] = [];

  constructor(configuration: Omit<CounterConfiguration<T>, "collect">) {
    const series = this.#series;
    this.counter = new Counter<T>({
      ...configuration,
      collect() {
        for (const s of series) {
          if (s.pending === 0) continue;
          this.inc(s.labels as LabelValues<T>, s.pending);
          s.pending = 0;
        }
      },
    });
  }

  /** Binds a series (once per label set: the caller keeps it). */
  series(labels: LabelValues<T>): CounterSeries {
    const bound = new CounterSeries(labels);
    this.#series.push(bound);
    return bound;
  }
}
