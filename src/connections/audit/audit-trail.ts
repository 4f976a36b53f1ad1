import type { Logger } from "pino";
import type { Clock } from "../../engine/clock.ts";
import type { AuditRecord, ConnectionStore } from "../../storage/connection-store.ts";

export interface AuditTrailOptions {
  /** Records older than this are pruned. Default 30 days. */
  retentionMs?: number;
  /** Records are written in batches at least this often. Default 200 ms. */
  flushIntervalMs?: number;
}

const maxBatch = 500;
const pruneEveryMs = 10 * 60_000;
const pruneBatch = 5000;

/**
 * Writes every outbound exchange (already redacted) to storage in batches, off the request's path:
 * an exchange costs the request a push onto an array, not a transaction. What is buffered when the
 * process dies (at most one flush interval) is lost; the runs' journal is not affected.
 */
export class AuditTrail {
  readonly #store: ConnectionStore;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #retentionMs: number;
  readonly #flushIntervalMs: number;
  #buffer: AuditRecord[] = [];
  #flushing: Promise<void> = Promise.resolve();
  #flushTimer: NodeJS.Timeout | undefined;
  #pruneTimer: NodeJS.Timeout | undefined;

  constructor(store: ConnectionStore, clock: Clock, logger: Logger, options: AuditTrailOptions = {}) {
    this.#store = store;
    this.#clock = clock;
    this.#logger = logger;
    this.#retentionMs = options.retentionMs ?? 30 * 86_400_000;
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

  /** Starts pruning records older than the retention, now and every ten minutes. */
  startPruning(): void {
    void this.prune();
    this.#pruneTimer = setInterval(() => void this.prune(), pruneEveryMs);
    this.#pruneTimer.unref();
  }

  async prune(): Promise<number> {
    const before = this.#clock.now() - this.#retentionMs;
    let total = 0;
    try {
      for (;;) {
        const deleted = await this.#store.pruneAudit(before, pruneBatch);
        total += deleted;
        if (deleted < pruneBatch) break;
      }
    } catch (error) {
      this.#logger.error({ err: (error as Error).message }, "pruning the audit trail failed");
    }
    return total;
  }

  async stop(): Promise<void> {
    clearInterval(this.#pruneTimer);
    await this.flush();
  }
}
