/**
 * Group commit: items submitted while a commit is in flight wait and share the
 * next transaction, so N concurrent writers cost one fsync instead of N. An
 * idle committer adds no delay beyond one turn of the event loop (setImmediate,
 * which lets I/O that already arrived join the same batch).
 */
export class GroupCommitter<Item, Outcome> {
  readonly #commit: (items: Item[]) => Promise<Outcome[]>;
  readonly #maxBatch: number;
  #queue: { item: Item; resolve: (o: Outcome) => void; reject: (e: unknown) => void }[] = [];
  #running = false;
  #idle: Promise<void> = Promise.resolve();
  #markIdle: () => void = () => {};

  constructor(commit: (items: Item[]) => Promise<Outcome[]>, maxBatch = 500) {
    this.#commit = commit;
    this.#maxBatch = maxBatch;
  }

  submit(item: Item): Promise<Outcome> {
    return new Promise<Outcome>((resolve, reject) => {
      this.#queue.push({ item, resolve, reject });
      if (!this.#running) {
        this.#running = true;
        this.#idle = new Promise((resolve) => {
          this.#markIdle = resolve;
        });
        setImmediate(() => void this.#drain());
      }
    });
  }

  /** Resolves once everything submitted so far is committed (or failed). */
  whenIdle(): Promise<void> {
    return this.#idle;
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.#maxBatch);
      try {
        const outcomes = await this.#commit(batch.map((b) => b.item));
        for (const [i, b] of batch.entries()) b.resolve(outcomes[i] as Outcome);
      } catch (error) {
        for (const b of batch) b.reject(error);
      }
    }
    this.#running = false;
    this.#markIdle();
  }
}
