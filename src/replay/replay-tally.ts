import type { BulkActionCounts } from "../storage/bulk-action-store.ts";

/** What a bulk replay did, with a reason for each run or event it skipped or could not replay. */
export class ReplayTally {
  replayed = 0;
  skipped = 0;
  failed = 0;
  /** Further outcomes that are neither (an event replayed but quarantined again), by name. */
  readonly other = new Map<string, number>();
  readonly reasons = new Map<string, number>();

  skip(reason: string, count = 1): void {
    this.skipped += count;
    this.#because(`skipped: ${reason}`, count);
  }

  fail(reason: string, count = 1): void {
    this.failed += count;
    this.#because(`failed: ${reason}`, count);
  }

  count(outcome: string, reason: string): void {
    this.other.set(outcome, (this.other.get(outcome) ?? 0) + 1);
    this.#because(`${outcome}: ${reason}`, 1);
  }

  /** "replayed 3, skipped 1, failed 0", with any other outcomes after the replayed count. */
  summary(): string {
    const others = [...this.other].map(([outcome, count]) => `, ${outcome} ${count}`).join("");
    return `replayed ${this.replayed}${others}, skipped ${this.skipped}, failed ${this.failed}`;
  }

  /** As a bulk action stores its progress. */
  counts(): BulkActionCounts {
    return {
      replayed: this.replayed,
      skipped: this.skipped,
      failed: this.failed,
      other: Object.fromEntries(this.other),
      reasons: Object.fromEntries(this.reasons),
    };
  }

  /** A tally that goes on from stored progress (a resumed bulk action). */
  static from(counts: BulkActionCounts): ReplayTally {
    const tally = new ReplayTally();
    tally.replayed = counts.replayed;
    tally.skipped = counts.skipped;
    tally.failed = counts.failed;
    for (const [outcome, count] of Object.entries(counts.other)) tally.other.set(outcome, count);
    for (const [reason, count] of Object.entries(counts.reasons)) tally.reasons.set(reason, count);
    return tally;
  }

  get done(): number {
    return this.replayed + this.skipped + this.failed + [...this.other.values()].reduce((a, b) => a + b, 0);
  }

  #because(reason: string, count: number): void {
    this.reasons.set(reason, (this.reasons.get(reason) ?? 0) + count);
  }
}
