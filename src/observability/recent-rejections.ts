/**
 * Rejected webhook requests so far, by source and then by failed check: a counter's running totals since the
 * process started. Today `WebhookCounters.snapshot()` gives them; a Prometheus counter's values give the same.
 */
export type RejectionTotals = () => Record<string, Record<string, number>>;

/** What health reads: how many requests of a source each check rejected over the last window. */
export interface RejectionsReader {
  inLastWindow(source: string, now: number): Record<string, number>;
}

interface Snapshot {
  at: number;
  totals: Record<string, Record<string, number>>;
}

export interface RecentRejectionsOptions {
  /** Default one hour. */
  windowMs?: number;
  /** How often the totals are sampled: the window's edge is this coarse. Default one minute. */
  sampleEveryMs?: number;
}

/**
 * Rejections over a sliding window, from running totals: the totals now minus the oldest sample taken within
 * the window. Rejected requests are not stored (they could be anyone's), so they are counted, not queried; a
 * counter only grows, and a minute's samples keep an hour's answer to 61 snapshots, whatever the traffic.
 */
export class RecentRejections implements RejectionsReader {
  readonly #totals: RejectionTotals;
  readonly #windowMs: number;
  readonly #sampleEveryMs: number;
  readonly #samples: Snapshot[] = [];
  #timer: NodeJS.Timeout | undefined;

  constructor(totals: RejectionTotals, now: number, options: RecentRejectionsOptions = {}) {
    this.#totals = totals;
    this.#windowMs = options.windowMs ?? 3_600_000;
    this.#sampleEveryMs = options.sampleEveryMs ?? 60_000;
    this.sample(now);
  }

  /** Samples every `sampleEveryMs` until stopped; the timer does not keep the process alive. */
  start(clock: () => number): void {
    this.#timer ??= setInterval(() => this.sample(clock()), this.#sampleEveryMs).unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  sample(now: number): void {
    this.#samples.push({ at: now, totals: copy(this.#totals()) });
    while (this.#samples.length > 1 && (this.#samples[0] as Snapshot).at < now - this.#windowMs) this.#samples.shift();
  }

  inLastWindow(source: string, now: number): Record<string, number> {
    const base = this.#samples.find((s) => s.at >= now - this.#windowMs) ?? this.#samples[this.#samples.length - 1];
    const current = this.#totals()[source] ?? {};
    const before = base?.totals[source] ?? {};
    const counts: Record<string, number> = {};
    for (const [check, total] of Object.entries(current)) {
      const delta = total - (before[check] ?? 0);
      if (delta > 0) counts[check] = delta;
    }
    return counts;
  }
}

function copy(totals: Record<string, Record<string, number>>): Record<string, Record<string, number>> {
  return Object.fromEntries(Object.entries(totals).map(([source, checks]) => [source, { ...checks }]));
}
