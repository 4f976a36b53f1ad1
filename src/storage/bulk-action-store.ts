import type { ApiRole } from "./operator-store.ts";

/**
 * The part of the storage contract that bulk actions need (src/replay/bulk-actions.ts): one row per job, with
 * its fixed selection, where it is, what it did so far, and the lease of the process working on it. Both
 * backends implement it with the same SQL (`bulk-action-queries.ts`; migration 019).
 *
 * Every write after the first is conditional on the owner still holding the job, so two processes never both
 * report progress for one job; the replays themselves are conditional transitions in storage, so neither would
 * replay a run or an event twice anyway.
 */

export const bulkActionKinds = ["replay-runs", "replay-events"] as const;
export type BulkActionKind = (typeof bulkActionKinds)[number];

/** interrupted: stored as running, but its lease has lapsed (its process stopped or died); it can be resumed. */
export type BulkActionState = "running" | "finished" | "failed" | "interrupted";

export interface BulkActionCounts {
  replayed: number;
  skipped: number;
  failed: number;
  /** Outcomes that are none of those three (an event replayed and quarantined again), by name. */
  other: Record<string, number>;
  /** Why runs or events were skipped, failed or had another outcome, by count. */
  reasons: Record<string, number>;
}

export interface NewBulkAction {
  id: string;
  kind: BulkActionKind;
  /** The fixed selection the job works through, as JSON (the kind's own shape). */
  selectionJson: string;
  /** Who started it: the token's or session's name, and its role. */
  actor: string;
  actorRole: ApiRole | null;
  /** How many runs or events the selection held when the job started. */
  total: number;
  owner: string;
  leaseUntil: number;
  now: number;
}

export interface BulkActionRecord extends BulkActionCounts {
  id: string;
  kind: BulkActionKind;
  selectionJson: string;
  actor: string;
  actorRole: ApiRole | null;
  total: number;
  /** Where the next page starts, as JSON; null before the first page. */
  cursorJson: string | null;
  state: BulkActionState;
  /** Why a failed job stopped. */
  error: string | null;
  startedAt: number;
  /** The last progress (or heartbeat). */
  updatedAt: number;
  finishedAt: number | null;
}

export interface BulkProgress {
  id: string;
  owner: string;
  counts: BulkActionCounts;
  cursorJson: string | null;
  leaseUntil: number;
  now: number;
}

export interface BulkActionStore {
  createBulkAction(action: NewBulkAction): Promise<void>;
  /** The job as of `now` (a running job whose lease lapsed before `now` reads interrupted); null if unknown. */
  getBulkAction(id: string, now: number): Promise<BulkActionRecord | null>;
  /** Jobs newest first (by start), of one kind when given, after `before` when given. */
  listBulkActions(input: {
    now: number;
    limit: number;
    kind?: BulkActionKind;
    before?: { startedAt: number; id: string };
  }): Promise<BulkActionRecord[]>;
  /** Stores the counts and cursor after a page and renews the lease; false when `owner` no longer holds it. */
  recordBulkProgress(progress: BulkProgress): Promise<boolean>;
  /** The heartbeat between pages; false when `owner` no longer holds the job. */
  renewBulkActionLease(input: { id: string; owner: string; leaseUntil: number; now: number }): Promise<boolean>;
  /** Ends the job (finished, or failed with `error`) with its final counts; false when `owner` no longer holds it. */
  finishBulkAction(
    progress: Omit<BulkProgress, "leaseUntil"> & { state: "finished" | "failed"; error: string | null },
  ): Promise<boolean>;
  /** Gives the lease up at once (a graceful stop mid-job): the job reads interrupted from now on. */
  releaseBulkAction(input: { id: string; owner: string; now: number }): Promise<void>;
  /**
   * Takes an interrupted job over for `owner` (a resume): only while it is running with its lease lapsed, so
   * two resumes never both work on it. Returns the job as taken, or null when it was not interrupted.
   */
  claimInterruptedBulkAction(input: {
    id: string;
    owner: string;
    leaseUntil: number;
    now: number;
  }): Promise<BulkActionRecord | null>;
}
