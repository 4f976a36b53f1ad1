import { ValidationError } from "../sdk/errors.ts";
import type { ReplaySelection, RunRecord, RunStatus } from "./contract.ts";
import { type RunRow, toRunRecord } from "./rows.ts";

/**
 * Why a run cannot be replayed right now, or null if it can. Shared by both backends.
 *
 * A paused or waiting run can be replayed like a stuck one: it is queued now, so an operator who knows the
 * connection is back need not wait for new credentials or the circuit's cooldown.
 */
export function replayableRunError(runId: string, status: string | undefined): Error | null {
  if (status === undefined) return new ValidationError(`run ${runId} does not exist`);
  if (status === "running") {
    return new ValidationError(
      `run ${runId} is running right now; replay it once it has finished or its worker has stopped`,
    );
  }
  if (status === "blocked") {
    return new ValidationError(
      `run ${runId} is waiting for earlier runs with its concurrency key; it will start on its own`,
    );
  }
  return null;
}

/** The run as a replay leaves it: due now, with a fresh retry budget and no crashes counted. */
export function replayedRun(row: RunRow, status: RunStatus, now: number): RunRecord {
  return toRunRecord({
    ...row,
    status,
    available_at: now,
    waiting_on: null,
    failures: 0,
    crashes: 0,
    finished_at: null,
  });
}

/** What a bulk replay reads of a run, under its row lock, to decide. */
export interface ReplayRow {
  id: string;
  status: string;
  concurrency_key: string | null;
  concurrency_limit: number | null;
  finished_at: number | null;
}

/**
 * Whether the run is still one a bulk replay selected: in its status, and finished by the time it started. A
 * run replayed since (by it or anyone) and dead again is not: that death is not one this replay was asked about.
 */
export function stillSelected(run: ReplayRow, selection: Pick<ReplaySelection, "status" | "finishedBy">): boolean {
  return run.status === selection.status && run.finished_at !== null && Number(run.finished_at) <= selection.finishedBy;
}
