/** What the receiver did with webhook requests, per source: rejected requests are not stored, so they are counted here. */
export interface SourceCounts {
  accepted: number;
  duplicates: number;
  quarantined: number;
  /** 401s by failed check (missing-header, malformed-header, timestamp, signature). */
  rejected: Record<string, number>;
}

export class WebhookCounters {
  readonly #bySource = new Map<string, SourceCounts>();

  count(source: string, outcome: "accepted" | "duplicates" | "quarantined"): void {
    this.#of(source)[outcome]++;
  }

  countRejected(source: string, check: string): void {
    const rejected = this.#of(source).rejected;
    rejected[check] = (rejected[check] ?? 0) + 1;
  }

  snapshot(): Record<string, SourceCounts> {
    return Object.fromEntries(
      [...this.#bySource].map(([source, c]) => [source, { ...c, rejected: { ...c.rejected } }]),
    );
  }

  #of(source: string): SourceCounts {
    let counts = this.#bySource.get(source);
    if (!counts) {
      counts = { accepted: 0, duplicates: 0, quarantined: 0, rejected: {} };
      this.#bySource.set(source, counts);
    }
    return counts;
  }
}
