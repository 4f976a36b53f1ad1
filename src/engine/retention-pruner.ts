import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import type { Clock } from "../runtime/clock.ts";
import { noPrunedRows, type PrunedRows, type PruningLease, type RetentionStore } from "../storage/retention-store.ts";

export interface RetentionOptions {
  /**
   * Succeeded and failed runs finished longer ago than this are deleted with their rows, and so are the
   * events they leave without runs and unmatched events received longer ago. null: kept forever.
   * Default 30 days.
   */
  retentionMs?: number | null;
  /** The same for dead runs and quarantined events, which an operator may still want to replay. Default 90 days. */
  deadRetentionMs?: number | null;
  /** Audit records of no run (token exchanges); a run's own go with the run. Default 30 days. */
  auditRetentionMs?: number | null;
  /** Most runs (or events, or audit records) deleted in one transaction. Default `pruneBatchSize(dialect)`. */
  batchSize?: number;
  /** Pause between two batches, so the hot path gets the database between them. Default 100 ms. */
  pauseMs?: number;
  /** Time between two passes. Default 10 minutes. */
  intervalMs?: number;
  /** The first pass comes this long after start, not during it. Default 1 minute. */
  firstPassAfterMs?: number;
  /** Called after each batch that deleted something, with what it deleted (metrics count these). */
  onPruned?: (rows: PrunedRows) => void;
}

const day = 86_400_000;
/**
 * Runs deleted per transaction on each backend. SQLite's driver is synchronous: a batch holds the event loop
 * (about 80 ms for 1,000 runs), so its batches are smaller.
 */
export function pruneBatchSize(dialect: "sqlite" | "postgres"): number {
  return dialect === "sqlite" ? 250 : 1000;
}

/** How long a pass may go without a batch before another worker may take over: far above one batch. */
const leaseMs = 60_000;

type Batch = (lease: PruningLease) => Promise<PrunedRows | null>;

/**
 * Deletes what retention no longer keeps (docs/guarantees.md, "Retention"), off the hot path: every worker
 * process runs one, a pass every interval; one pass at a time across workers (a lease in storage); each
 * batch is its own short transaction with a pause after it. Runs that are not over (queued, running,
 * retrying, sleeping, waiting, paused, blocked) are never touched: only terminal statuses are selected.
 */
export class RetentionPruner {
  readonly #store: RetentionStore;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #options: Required<Omit<RetentionOptions, "onPruned">> & Pick<RetentionOptions, "onPruned">;
  /** Each pruner is its own lease owner, so two processes (or two engines in one) never share a lease. */
  readonly #owner = randomUUID();
  #timer: NodeJS.Timeout | undefined;
  #pass: Promise<PrunedRows> | undefined;
  #stopping = false;

  constructor(store: RetentionStore, clock: Clock, logger: Logger, options: RetentionOptions = {}) {
    this.#store = store;
    this.#clock = clock;
    this.#logger = logger;
    this.#options = {
      retentionMs: options.retentionMs === undefined ? 30 * day : options.retentionMs,
      deadRetentionMs: options.deadRetentionMs === undefined ? 90 * day : options.deadRetentionMs,
      auditRetentionMs: options.auditRetentionMs === undefined ? 30 * day : options.auditRetentionMs,
      batchSize: options.batchSize ?? pruneBatchSize("postgres"),
      pauseMs: options.pauseMs ?? 100,
      intervalMs: options.intervalMs ?? 10 * 60_000,
      firstPassAfterMs: options.firstPassAfterMs ?? 60_000,
      onPruned: options.onPruned,
    };
  }

  start(): void {
    const { retentionMs, deadRetentionMs, auditRetentionMs } = this.#options;
    if (retentionMs === null && deadRetentionMs === null && auditRetentionMs === null) return;
    const schedule = (delayMs: number) => {
      this.#timer = setTimeout(async () => {
        await this.prune();
        if (!this.#stopping) schedule(this.#options.intervalMs);
      }, delayMs);
      this.#timer.unref();
    };
    schedule(this.#options.firstPassAfterMs);
  }

  /** Stops between two batches; resolves once the pass in progress, if any, has stopped. */
  async stop(): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#timer);
    await this.#pass;
  }

  /** One pass now (the timer does this by itself; tests call it); resolves with what it deleted in all. */
  prune(): Promise<PrunedRows> {
    this.#pass ??= this.#prunePass().finally(() => {
      this.#pass = undefined;
    });
    return this.#pass;
  }

  async #prunePass(): Promise<PrunedRows> {
    const total = noPrunedRows();
    const started = performance.now();
    try {
      if (!(await this.#store.claimPruningLease(this.#lease()))) {
        this.#logger.debug("another worker is pruning; this one skips its pass");
        return total;
      }
      try {
        for (const [batch, counted] of this.#batches(this.#clock.now())) {
          if (!(await this.#drain(batch, counted, total))) break;
        }
      } finally {
        await this.#store.releasePruningLease(this.#owner);
      }
    } catch (error) {
      this.#logger.error(
        { err: (error as Error).message },
        "pruning old runs and events failed; trying again at the next pass",
      );
    }
    if (Object.values(total).some((count) => count > 0)) {
      this.#logger.info({ pruned: total, ms: Math.round(performance.now() - started) }, "pruned old runs and events");
    }
    return total;
  }

  /** What one pass deletes, in order, each with the table whose count says whether a batch was full. */
  #batches(now: number): [Batch, keyof PrunedRows][] {
    const { retentionMs, deadRetentionMs, auditRetentionMs, batchSize: limit } = this.#options;
    const batches: [Batch, keyof PrunedRows][] = [];
    const runs = (status: "succeeded" | "failed" | "dead", keptMs: number) =>
      batches.push([(lease) => this.#store.pruneRuns({ status, finishedBefore: now - keptMs, limit, lease }), "runs"]);
    const events = (status: "unmatched" | "quarantined", keptMs: number) =>
      batches.push([
        (lease) => this.#store.pruneEvents({ status, receivedBefore: now - keptMs, limit, lease }),
        "events",
      ]);
    if (retentionMs !== null) {
      runs("succeeded", retentionMs);
      runs("failed", retentionMs);
      events("unmatched", retentionMs);
    }
    if (deadRetentionMs !== null) {
      runs("dead", deadRetentionMs);
      events("quarantined", deadRetentionMs);
    }
    if (auditRetentionMs !== null) {
      batches.push([
        (lease) => this.#store.pruneRunlessAudit({ before: now - auditRetentionMs, limit, lease }),
        "audit_log",
      ]);
    }
    return batches;
  }

  /** Batches until one is not full; false when the pass must end (stopping, or the lease was lost). */
  async #drain(batch: Batch, counted: keyof PrunedRows, total: PrunedRows): Promise<boolean> {
    for (;;) {
      if (this.#stopping) return false;
      const pruned = await batch(this.#lease());
      if (pruned === null) {
        this.#logger.warn(
          "the pruning lease passed to another worker (a batch took longer than a minute); this pass ends",
        );
        return false;
      }
      for (const table of Object.keys(total) as (keyof PrunedRows)[]) total[table] += pruned[table];
      if (Object.values(pruned).some((count) => count > 0)) this.#report(pruned);
      if (pruned[counted] < this.#options.batchSize) return true;
      await sleep(this.#options.pauseMs);
    }
  }

  #report(pruned: PrunedRows): void {
    try {
      this.#options.onPruned?.(pruned);
    } catch (error) {
      this.#logger.error({ err: (error as Error).message }, "the onPruned callback threw; pruning goes on");
    }
  }

  #lease(): PruningLease {
    const now = this.#clock.now();
    return { owner: this.#owner, now, until: now + leaseMs };
  }
}
