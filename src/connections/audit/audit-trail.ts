import type { Logger } from "pino";
import type { AuditRecord, ConnectionStore } from "../../storage/connection-store.ts";

export interface AuditTrailOptions {
  /** Records are written in batches at least this often. Default 200 ms. */
  flushIntervalMs?: number;
}

const maxBatch = 500;

/**
 * Writes every outbound exchange (already redacted) to storage in batches, off the request's path:
 * an exchange costs the request a push onto an array, not a transaction. What is buffered when the
 * process dies (at most one flush interval) is lost; the runs' journal is not affected. Old records are
 * pruned by retention (src/engine/retention-pruner.ts): a run's with the run, the others by age.
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

  record(record: AuditRecord): void {
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
