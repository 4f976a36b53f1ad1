import type pg from "pg";
import type { SqliteStatements } from "./dialects.ts";
import { interruptRunsOnPostgres, interruptRunsOnSqlite } from "./interrupt-run.ts";
import { notifyRunsAvailable } from "./runs-available.ts";

/**
 * running → queued, due now, for runs whose worker is gone, as interruptions (interrupt-run.ts: no attempt
 * used; counted as a crash when the run made no progress since its previous one).
 *
 * SQLite, at the start of the file's new owner (beginWorkerSession): whatever is still running belonged to a
 * process that died. The history rows are written first, in the same transaction, while the runs are still
 * `running`.
 */
export const requeueAllRunning = {
  sqlite: interruptRunsOnSqlite("1 = 1"),
} as const;
export const recordAllInterruptions = {
  sqlite: `INSERT INTO run_history (run_id, kind, at, detail)
    SELECT id, 'interrupt', :now, :reason FROM runs WHERE status = 'running'`,
} as const;
/**
 * PostgreSQL, in every worker's sweep (expireLeases): a lease that ran out means its worker died or stalled.
 * SKIP LOCKED for the same reason as the heartbeat (extend-leases.ts): a row in transition is looked at by the
 * next sweep.
 */
export const requeueExpiredLeases = {
  postgres: interruptRunsOnPostgres(
    "SELECT seq, id FROM runs WHERE status = 'running' AND lease_until < $1 FOR NO KEY UPDATE SKIP LOCKED",
    "'the worker running this attempt stopped renewing its lease (crashed or stalled); the run was requeued'",
  ),
} as const;

/** Inside the caller's (durable) transaction; returns how many runs were requeued. */
export function requeueAllRunningOnSqlite(
  s: SqliteStatements<"recordAllInterruptions" | "requeueAllRunning">,
  now: number,
): number {
  const reason =
    "the process running this attempt stopped without finishing it (crash); the run was requeued at restart";
  s.recordAllInterruptions.run({ now, reason });
  return s.requeueAllRunning.run({ now, reason }).changes;
}

/** One statement on the pool (it commits alone); returns how many runs were requeued. */
export async function requeueExpiredLeasesOnPostgres(
  pool: pg.Pool,
  now: number,
  withRetry: <T>(work: () => Promise<T>) => Promise<T>,
): Promise<number> {
  const { rowCount } = await withRetry(() => pool.query(requeueExpiredLeases.postgres, [now]));
  if ((rowCount ?? 0) > 0) await pool.query(notifyRunsAvailable.postgres);
  return rowCount ?? 0;
}
