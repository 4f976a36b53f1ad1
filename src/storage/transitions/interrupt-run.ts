import type { RunTransition } from "../contract.ts";
import type { PostgresClient, SqliteStatements } from "./dialects.ts";
import { recordHistoryOnSqlite } from "./record-history.ts";
import { notifyRunsAvailable } from "./runs-available.ts";

type InterruptRun = Extract<RunTransition, { kind: "interruptRun" }>;

/**
 * running → queued under the caller's lease: a worker that fenced itself (its lease may have lapsed) hands the run
 * back as an interruption, like a crash (see interruptRunsOnSqlite). The interruption is kept in the run's history.
 *
 * Due when the lease ends, not now: a worker fences itself a margin (lease/4) before its lease ends, aborting what
 * it had in flight, and that margin is what a server still working on an aborted request has before another attempt
 * may repeat it (docs/guarantees.md, "The arithmetic"). Due now, a second worker could look up an invoice the first
 * one's POST had not created yet, then create it again (test/engine/fencing.test.ts). A lease already over (a stall
 * past it) is due now.
 */
export const interruptRun = {
  sqlite: interruptRunsOnSqlite("id = :id AND lease_token = :leaseToken", "MAX(:now, COALESCE(lease_until, :now))"),
  postgres: interruptRunsOnPostgres(
    "SELECT seq, id FROM runs WHERE id = $3 AND lease_token = $4 AND status = 'running' FOR NO KEY UPDATE",
    "$2",
    "GREATEST($1, COALESCE(r.lease_until, $1))",
  ),
} as const;

/**
 * Requeues the running runs `where` selects as interrupted, due at `dueAt` (default: at once), with no attempt used. Their `crashes`
 * grows by one unless they completed a step since their previous interruption (more completed steps than
 * `steps_at_interruption`), in which case it starts again from zero: a run that advances is never
 * dead-lettered by the crashes of its process. Named parameters :now and :reason.
 */
export function interruptRunsOnSqlite(where: string, dueAt = ":now"): string {
  const completed = "(SELECT count(*) FROM steps s WHERE s.run_id = runs.id AND s.status = 'completed')";
  return `UPDATE runs SET status = 'queued', available_at = ${dueAt}, lease_token = NULL, lease_until = NULL,
      crashes = CASE WHEN ${completed} > steps_at_interruption THEN 0 ELSE crashes + 1 END,
      steps_at_interruption = ${completed}, last_error = :reason, updated_at = :now
    WHERE status = 'running' AND ${where}`;
}

/**
 * The same on PostgreSQL, for the runs `target` selects (columns seq, id; `dueAt` reads the run's columns as `r.…`), with
 * each interruption kept in the run's history by the same statement. $1 is now; the reason is $2 unless given as
 * SQL; due at once unless `dueAt` says otherwise.
 */
export function interruptRunsOnPostgres(target: string, reason = "$2", dueAt = "$1"): string {
  return `WITH target AS (${target}),
    progress AS (
      SELECT t.seq, count(s.run_id) AS completed FROM target t
      LEFT JOIN steps s ON s.run_id = t.id AND s.status = 'completed' GROUP BY t.seq),
    requeued AS (
      UPDATE runs r SET status = 'queued', available_at = ${dueAt}, lease_token = NULL, lease_until = NULL,
        crashes = CASE WHEN p.completed > r.steps_at_interruption THEN 0 ELSE r.crashes + 1 END,
        steps_at_interruption = p.completed, last_error = ${reason}, updated_at = $1
      FROM progress p WHERE r.seq = p.seq
      RETURNING r.id, r.last_error),
    recorded AS (INSERT INTO run_history (run_id, kind, at, detail) SELECT id, 'interrupt', $1, last_error FROM requeued)
    SELECT id FROM requeued`;
}

export function interruptRunOnSqlite(s: SqliteStatements<"interruptRun" | "recordHistory">, t: InterruptRun): boolean {
  const ok = s.interruptRun.run({ now: t.now, reason: t.reason, id: t.runId, leaseToken: t.leaseToken }).changes === 1;
  if (ok) recordHistoryOnSqlite(s, { runId: t.runId, kind: "interrupt", at: t.now, detail: t.reason });
  return ok;
}

export async function interruptRunOnPostgres(client: PostgresClient, t: InterruptRun): Promise<boolean> {
  const { rowCount } = await client.query(interruptRun.postgres, [t.now, t.reason, t.runId, t.leaseToken]);
  if (rowCount === 1) await client.query(notifyRunsAvailable.postgres);
  return rowCount === 1;
}
