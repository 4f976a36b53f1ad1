import type { ReplaySelection, RunRecord, RunStatus } from "../contract.ts";
import { terminalStatuses } from "../contract.ts";
import { type ReplayRow, replayableRunError, replayedRun, stillSelected } from "../replay-rules.ts";
import { type RunRow, runColumns } from "../rows.ts";
import { inBothDialects, lockedOnPostgres, type PostgresClient, type SqliteStatements } from "./dialects.ts";
import { statusForNewRunOnPostgres, statusForNewRunOnSqlite } from "./enqueue-runs.ts";
import { recordHistoryOnPostgres, recordHistoryOnSqlite } from "./record-history.ts";
import { notifyRunsAvailable } from "./runs-available.ts";

/**
 * succeeded | failed | dead → queued | blocked (a finished run takes a slot of its concurrency key again), and
 * queued | retrying | sleeping | waiting | paused → queued (stuck, or waiting on a connection an operator knows
 * is back): due now, with a fresh retry budget, no crashes counted, waiting on nothing. Its journal is kept, so it
 * resumes at the first incomplete step. Never a running or blocked run (replay-rules.ts). One run (replayRun), or
 * a page of a bulk replay (replayRunsIn), each run only if it is still in the selection's status and finished by
 * its start: a bulk replay killed half-way and run again, or two at once, never replay a run twice. On PostgreSQL
 * the run's row lock makes two replays of it take turns.
 */
export const replayRun = inBothDialects(
  "UPDATE runs SET status = ?, available_at = ?, waiting_on = NULL, failures = 0, crashes = 0, finished_at = NULL, updated_at = ? WHERE id = ?",
);
/** A replay gets a fresh retry budget for the step that failed. */
export const resetFailedSteps = inBothDialects("UPDATE steps SET failures = 0 WHERE run_id = ? AND status = 'failed'");
export const runToReplay = lockedOnPostgres(
  `SELECT ${runColumns}, concurrency_limit FROM runs WHERE id = ?`,
  "FOR UPDATE",
);
export const runOfBulkReplay = lockedOnPostgres(
  "SELECT id, status, concurrency_key, concurrency_limit, finished_at FROM runs WHERE id = ?",
  "FOR UPDATE",
);

type BulkSelection = Pick<ReplaySelection, "status" | "finishedBy">;
type ReplayStatements = SqliteStatements<"replayRun" | "resetFailedSteps" | "recordHistory" | "takeConcurrencySlot">;
type FullRunRow = RunRow & { concurrency_limit: number | null };

export function replayRunOnSqlite(
  s: ReplayStatements & SqliteStatements<"runToReplay">,
  runId: string,
  now: number,
  actor?: string,
): RunRecord {
  const row = s.runToReplay.get(runId) as FullRunRow | undefined;
  const problem = replayableRunError(runId, row?.status);
  if (problem || !row) throw problem;
  return replayedRun(row, replayOnSqlite(s, row, now, actor), now);
}

export function replayRunsInOnSqlite(
  s: ReplayStatements & SqliteStatements<"runOfBulkReplay">,
  selection: BulkSelection,
  runIds: string[],
  now: number,
  actor?: string,
): string[] {
  return runIds.filter((runId) => {
    const run = s.runOfBulkReplay.get(runId) as ReplayRow | undefined;
    if (!run || !stillSelected(run, selection)) return false;
    replayOnSqlite(s, run, now, actor);
    return true;
  });
}

/** Requeues the run (inside a transaction) and returns its new status. */
function replayOnSqlite(s: ReplayStatements, run: ReplayRow, now: number, actor?: string): RunStatus {
  const wasFinished = terminalStatuses.includes(run.status as RunStatus);
  const status = wasFinished ? statusForNewRunOnSqlite(s, run.concurrency_key, run.concurrency_limit) : "queued";
  s.replayRun.run(status, now, now, run.id);
  s.resetFailedSteps.run(run.id);
  // A success is the run row's own until a replay clears it: from then on the history keeps it.
  if (run.status === "succeeded" && run.finished_at !== null) {
    recordHistoryOnSqlite(s, { runId: run.id, kind: "succeeded", at: run.finished_at });
  }
  recordHistoryOnSqlite(s, { runId: run.id, kind: "replay", at: now, detail: run.status, actor: actor ?? null });
  return status;
}

export async function replayRunOnPostgres(
  client: PostgresClient,
  runId: string,
  now: number,
  actor?: string,
): Promise<RunRecord> {
  const { rows } = await client.query<FullRunRow>(runToReplay.postgres, [runId]);
  const run = rows[0];
  const problem = replayableRunError(runId, run?.status);
  if (problem || !run) throw problem;
  const status = await replayOnPostgres(client, run, now, actor);
  if (status === "queued") await client.query(notifyRunsAvailable.postgres);
  return replayedRun(run, status, now);
}

export async function replayRunsInOnPostgres(
  client: PostgresClient,
  selection: BulkSelection,
  runIds: string[],
  now: number,
  actor?: string,
): Promise<string[]> {
  // Ids in sorted order, so two replays of overlapping pages lock the rows in the same order.
  const sorted = [...runIds].sort();
  const replayed: string[] = [];
  let queued = false;
  for (const runId of sorted) {
    const { rows } = await client.query<ReplayRow>(runOfBulkReplay.postgres, [runId]);
    const run = rows[0];
    if (!run || !stillSelected(run, selection)) continue;
    queued = (await replayOnPostgres(client, run, now, actor)) === "queued" || queued;
    replayed.push(runId);
  }
  if (queued) await client.query(notifyRunsAvailable.postgres);
  return replayed;
}

/** Requeues the run, locked by the caller's transaction, and returns its new status. */
async function replayOnPostgres(
  client: PostgresClient,
  run: ReplayRow,
  now: number,
  actor?: string,
): Promise<RunStatus> {
  const wasFinished = terminalStatuses.includes(run.status as RunStatus);
  const status = wasFinished
    ? await statusForNewRunOnPostgres(client, run.concurrency_key, run.concurrency_limit)
    : "queued";
  await client.query(replayRun.postgres, [status, now, now, run.id]);
  await client.query(resetFailedSteps.postgres, [run.id]);
  // A success is the run row's own until a replay clears it: from then on the history keeps it.
  if (run.status === "succeeded" && run.finished_at !== null) {
    await recordHistoryOnPostgres(client, { runId: run.id, kind: "succeeded", at: Number(run.finished_at) });
  }
  await recordHistoryOnPostgres(client, {
    runId: run.id,
    kind: "replay",
    at: now,
    detail: run.status,
    actor: actor ?? null,
  });
  return status;
}
