import type { RunTransition } from "../contract.ts";
import { inBothDialects, type PostgresClient, type SqliteStatements } from "./dialects.ts";
import { recordFailedAttemptOnPostgres, recordFailedAttemptOnSqlite } from "./record-failed-attempt.ts";

type RetryRun = Extract<RunTransition, { kind: "retryRun" }>;

/**
 * running → retrying, due at `availableAt` (the backoff), under the caller's lease. An attempt is used: a failure
 * outside any step counts on the run (`failures`), a step's on its journal row; the crash count starts again.
 * The failed attempt is kept (record-failed-attempt.ts).
 */
export const retryRun = inBothDialects(
  `UPDATE runs SET status = 'retrying', available_at = ?, last_error = ?, failures = failures + ?, crashes = 0, lease_token = NULL, lease_until = NULL, updated_at = ?
    WHERE id = ? AND lease_token = ? AND status = 'running'`,
);

function retryValues(t: RetryRun): unknown[] {
  const runFailure = t.stepFailure ? 0 : 1;
  return [t.availableAt, t.error, runFailure, t.now, t.runId, t.leaseToken];
}

export function retryRunOnSqlite(
  s: SqliteStatements<"retryRun" | "recordStepFailure" | "recordHistory">,
  t: RetryRun,
): boolean {
  const ok = s.retryRun.run(...retryValues(t)).changes === 1;
  if (ok) recordFailedAttemptOnSqlite(s, t, "retry");
  return ok;
}

export async function retryRunOnPostgres(client: PostgresClient, t: RetryRun): Promise<boolean> {
  const { rowCount } = await client.query(retryRun.postgres, retryValues(t));
  if (rowCount === 1) await recordFailedAttemptOnPostgres(client, t, "retry");
  return rowCount === 1;
}
