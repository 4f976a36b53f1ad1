/**
 * The part of the storage contract that retention needs: deleting old rows in small batches, each batch one
 * short transaction that finds its rows through an index (migration 012), and a lease so that one worker at
 * a time prunes. Both backends implement it (`sqlite/sqlite-retention.ts`, `postgres/postgres-retention.ts`);
 * the periodic job that calls it is src/engine/retention-pruner.ts.
 *
 * Times are epoch milliseconds from the engine's clock.
 */

/**
 * Rows that belong to a run, deleted in the same transaction as their runs. A table that keys rows by run id
 * is one more line here (its column must be indexed: each batch deletes by a list of run ids).
 */
export const rowsOfRuns = [
  { table: "steps", column: "run_id" },
  { table: "run_history", column: "run_id" },
  { table: "audit_log", column: "run_id" },
  // Entity tags (010): the primary key starts with run_id.
  { table: "tags", column: "run_id" },
] as const;

/** Rows that belong to an event, deleted in the same transaction as their event. Same rule as rowsOfRuns. */
export const rowsOfEvents = [] as const satisfies readonly { table: string; column: string }[];

export type PrunedTable =
  | "runs"
  | "events"
  | (typeof rowsOfRuns)[number]["table"]
  | (typeof rowsOfEvents)[number]["table"];

/** Rows deleted, by table: what one batch (one transaction) removed. */
export type PrunedRows = Record<PrunedTable, number>;

export function noPrunedRows(): PrunedRows {
  const rows = { runs: 0, events: 0 } as PrunedRows;
  for (const { table } of [...rowsOfRuns, ...rowsOfEvents]) rows[table] = 0;
  return rows;
}

/** The pruning lease a batch runs under: renewed to `until` by the batch itself, so a pruner that lost it stops. */
export interface PruningLease {
  owner: string;
  now: number;
  until: number;
}

export interface RetentionStore {
  /**
   * Takes the pruning lease for `owner` until `until` if it is free, expired, or already this owner's.
   * false: another worker is pruning; try again at the next period.
   */
  claimPruningLease(lease: PruningLease): Promise<boolean>;
  /** Gives the lease up before its time (the pass is over), so the next period need not wait for it to lapse. */
  releasePruningLease(owner: string): Promise<void>;
  /**
   * Deletes up to `limit` runs in `status` that finished before `finishedBefore`, oldest first, with their
   * rows (rowsOfRuns) and the events they leave without runs (unless quarantined), in one transaction.
   * null, having deleted nothing, when `lease` is no longer the caller's.
   */
  pruneRuns(input: {
    status: "succeeded" | "failed" | "dead";
    finishedBefore: number;
    limit: number;
    lease: PruningLease;
  }): Promise<PrunedRows | null>;
  /** Deletes up to `limit` events in `status` (never with runs) received before `receivedBefore`, oldest first. */
  pruneEvents(input: {
    status: "unmatched" | "quarantined";
    receivedBefore: number;
    limit: number;
    lease: PruningLease;
  }): Promise<PrunedRows | null>;
  /** Deletes up to `limit` audit records of no run (token exchanges) made before `before`, oldest first. */
  pruneRunlessAudit(input: { before: number; limit: number; lease: PruningLease }): Promise<PrunedRows | null>;
}
