import type { PostgresClient, SqliteStatements } from "./dialects.ts";
import { notifyRunsAvailable } from "./runs-available.ts";

/**
 * paused → queued, due now, for every run paused on a connection, when its new credentials are saved (in the
 * connection store's saveCredentials, in the transaction that saves them). Each resumed run's history tells why.
 */
export const resumePausedRuns = {
  sqlite: `UPDATE runs SET status = 'queued', available_at = @now, waiting_on = NULL, updated_at = @now
    WHERE status = 'paused' AND waiting_on = @connectionId`,
  /** The history rows in the same statement. */
  postgres: `WITH resumed AS (
      UPDATE runs SET status = 'queued', available_at = $2, waiting_on = NULL, updated_at = $2
      WHERE status = 'paused' AND waiting_on = $1 RETURNING id),
    recorded AS (INSERT INTO run_history (run_id, kind, connection_id, at, detail)
      SELECT id, 'resume', $1, $2, 'new credentials were saved' FROM resumed)
    SELECT id FROM resumed`,
} as const;
/** SQLite: written before resumePausedRuns, in its transaction, while the runs are still paused. */
export const recordResumes = {
  sqlite: `INSERT INTO run_history (run_id, kind, connection_id, at, detail)
    SELECT id, 'resume', @connectionId, @now, 'new credentials were saved' FROM runs WHERE status = 'paused' AND waiting_on = @connectionId`,
} as const;

/** Returns how many runs were resumed. */
export function resumePausedRunsOnSqlite(
  s: SqliteStatements<"recordResumes" | "resumePausedRuns">,
  connectionId: string,
  now: number,
): number {
  s.recordResumes.run({ connectionId, now });
  return s.resumePausedRuns.run({ connectionId, now }).changes;
}

export async function resumePausedRunsOnPostgres(
  client: PostgresClient,
  connectionId: string,
  now: number,
): Promise<number> {
  const resumed = (await client.query(resumePausedRuns.postgres, [connectionId, now])).rowCount ?? 0;
  if (resumed > 0) await client.query(notifyRunsAvailable.postgres);
  return resumed;
}
