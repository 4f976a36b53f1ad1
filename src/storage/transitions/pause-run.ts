import type { RunTransition } from "../contract.ts";
import { inBothDialects, lockedOnPostgres, type PostgresClient, type SqliteStatements } from "./dialects.ts";
import { recordHistoryOnPostgres, recordHistoryOnSqlite } from "./record-history.ts";
import { releaseRunOnPostgres, releaseRunOnSqlite } from "./release-run.ts";

type PauseRun = Extract<RunTransition, { kind: "pauseRun" }>;

/**
 * running → paused on a connection whose credentials were rejected, under the caller's lease; no attempt is used.
 * Only while the connection is auth_failed, read in the same transaction: saving credentials resumes the paused
 * runs (resume-paused-runs.ts), so if new ones were saved since this attempt was rejected, nothing would resume
 * this run, and it is released (running → queued, release-run.ts) instead.
 */
export const pauseRun = inBothDialects(
  `UPDATE runs SET status = 'paused', waiting_on = ?, last_error = ?, crashes = 0, lease_token = NULL, lease_until = NULL, updated_at = ?
    WHERE id = ? AND lease_token = ? AND status = 'running'`,
);
/**
 * The share lock makes pausing and saving credentials take turns: saveCredentials updates this row before it
 * requeues the paused runs, so either it sees this run paused, or this sees the connection active again.
 */
export const connectionStatus = lockedOnPostgres("SELECT status FROM connections WHERE id = ?", "FOR SHARE");

function pauseValues(t: PauseRun): unknown[] {
  return [t.connectionId, t.reason, t.now, t.runId, t.leaseToken];
}

function pauseHistory(t: PauseRun) {
  const { runId, connectionId, now: at, reason: detail } = t;
  return { runId, kind: "pause", connectionId, at, detail } as const;
}

export function pauseRunOnSqlite(
  s: SqliteStatements<"connectionStatus" | "pauseRun" | "releaseRun" | "recordHistory">,
  t: PauseRun,
): boolean {
  const connection = s.connectionStatus.get(t.connectionId) as { status: string } | undefined;
  if (connection?.status !== "auth_failed") return releaseRunOnSqlite(s, t);
  const ok = s.pauseRun.run(...pauseValues(t)).changes === 1;
  if (ok) recordHistoryOnSqlite(s, pauseHistory(t));
  return ok;
}

export async function pauseRunOnPostgres(client: PostgresClient, t: PauseRun): Promise<boolean> {
  const { rows } = await client.query<{ status: string }>(connectionStatus.postgres, [t.connectionId]);
  if (rows[0]?.status !== "auth_failed") return releaseRunOnPostgres(client, t);
  const { rowCount } = await client.query(pauseRun.postgres, pauseValues(t));
  if (rowCount !== 1) return false;
  await recordHistoryOnPostgres(client, pauseHistory(t));
  return true;
}
