import type { Logger } from "pino";
import { currentRun } from "../../runtime/run-scope.ts";
import type { AuditRecord, ConnectionStore } from "../../storage/connection-store.ts";

export interface AuditTrailOptions {
  /** Records are written in batches at least this often. Default 200 ms. */
  flushIntervalMs?: number;
}

const maxBatch = 500;

/**
 * Writes every outbound exchange (already redacted) to storage, two ways, both off the request's path (an
 * exchange costs the request a push onto an array, not a transaction):
 * - made while a run executes (in a step, or between its steps): held for the run's next transition, which
 *   storage writes in the same transaction (src/runtime/held-audit.ts). A step's exchanges are as durable as
 *   its record: a crash after the step committed finds them, one before loses both alike.
 * - anything else (connection tests, polls, token requests outside a run, what a run's transitions did not take:
 *   see HeldAudit): buffered and written in batches at least every flush interval. What is buffered when the
 *   process dies (at most one flush interval) is lost; the runs' journal is not affected.
 * Old records are pruned by retention (src/engine/retention-pruner.ts): a run's with the run, the others by age.
 */
export class AuditTrail {
  readonly #store: ConnectionStore;
  readonly #logger: Logger;
  readonly #flushIntervalMs: number;
  #buffer: AuditRecord[] = [];
  #flushing: Promise<void> = Promise.resolve();
  #flushTimer: NodeJS.Timeout | undefined;

  constructor(store: ConnectionStore, logger: Logger, options: AuditTrailOptions = {}) {
    this.#store = store;
    this.#logger = logger;
    this.#flushIntervalMs = options.flushIntervalMs ?? 200;
  }

  /** Made once: `record` hands it to the run's hold as the way to go if no transition takes the record. */
  readonly #buffered = (record: AuditRecord) => this.#bufferRecord(record);

  record(record: AuditRecord): void {
    const held = currentRun()?.audit;
    if (held) held.hold(record, this.#buffered);
    else this.#bufferRecord(record);
  }

  #bufferRecord(record: AuditRecord): void {
    this.#buffer.push(record);
    if (this.#buffer.length >= maxBatch) void this.flush();
    else this.#flushTimer ??= setTimeout(() => void this.flush(), this.#flushIntervalMs);
  }

  /** Writes what is buffered; resolves when it (and any earlier flush) is stored. */
  flush(): Promise<void> {
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    const batch = this.#buffer;
    this.#buffer = [];
    this.#flushing = this.#flushing.then(async () => {
      if (batch.length === 0) return;
      try {
        await this.#store.appendAudit(batch);
      } catch (error) {
        this.#logger.error({ err: (error as Error).message, records: batch.length }, "writing the audit trail failed");
      }
    });
    return this.#flushing;
  }

  async stop(): Promise<void> {
    await this.flush();
  }
}
