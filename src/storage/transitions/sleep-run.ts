import type { RunTransition } from "../contract.ts";
import { inBothDialects, type PostgresClient, type SqliteStatements } from "./dialects.ts";
import { recordHistoryOnPostgres, recordHistoryOnSqlite } from "./record-history.ts";

type SleepRun = Extract<RunTransition, { kind: "sleepRun" }>;

/**
 * running → sleeping until `wakeAt`, under the caller's lease; waking up is a claim. The wake time is journaled as
 * the sleep step's result, so the step is done when the run is replayed after it; the crash count starts again.
 */
export const sleepRun = inBothDialects(
  `UPDATE runs SET status = 'sleeping', available_at = ?, crashes = 0, lease_token = NULL, lease_until = NULL, updated_at = ?
    WHERE id = ? AND lease_token = ? AND status = 'running'`,
);
export const recordSleep = inBothDialects(
  `INSERT INTO steps (run_id, name, status, output, error, failures, updated_at) VALUES (?, ?, 'completed', ?, NULL, 0, ?)
    ON CONFLICT (run_id, name) DO UPDATE SET status = 'completed', output = excluded.output, updated_at = excluded.updated_at`,
);

export function sleepRunOnSqlite(
  s: SqliteStatements<"sleepRun" | "recordSleep" | "recordHistory">,
  t: SleepRun,
): boolean {
  if (s.sleepRun.run(t.wakeAt, t.now, t.runId, t.leaseToken).changes !== 1) return false;
  s.recordSleep.run(t.runId, t.name, JSON.stringify({ sleepUntil: t.wakeAt }), t.now);
  recordHistoryOnSqlite(s, { runId: t.runId, kind: "sleep", stepName: t.name, at: t.now, until: t.wakeAt });
  return true;
}

export async function sleepRunOnPostgres(client: PostgresClient, t: SleepRun): Promise<boolean> {
  const { rowCount } = await client.query(sleepRun.postgres, [t.wakeAt, t.now, t.runId, t.leaseToken]);
  if (rowCount !== 1) return false;
  await client.query(recordSleep.postgres, [t.runId, t.name, JSON.stringify({ sleepUntil: t.wakeAt }), t.now]);
  await recordHistoryOnPostgres(client, {
    runId: t.runId,
    kind: "sleep",
    stepName: t.name,
    at: t.now,
    until: t.wakeAt,
  });
  return true;
}
