import type { RunTransition } from "../contract.ts";
import { inBothDialects, type PostgresClient, type SqliteStatements } from "./dialects.ts";
import { recordFailedAttemptOnPostgres, recordFailedAttemptOnSqlite } from "./record-failed-attempt.ts";
import { releaseConcurrencySlotOnSqlite } from "./release-concurrency-slot.ts";

type FinishRunWithError = Extract<RunTransition, { kind: "finishRunWithError" }>;

/**
 * running → failed (a non-retryable error) | dead (retries exhausted, or the run's process kept dying while it
 * ran alone), under the caller's lease. The failed attempt is kept (record-failed-attempt.ts) and the run's
 * concurrency slot goes to the oldest blocked run of its key (release-concurrency-slot.ts).
 */
export const finishRunWithError = inBothDialects(
  `UPDATE runs SET status = ?, last_error = ?, failures = failures + ?, lease_token = NULL, lease_until = NULL, finished_at = ?, updated_at = ?
    WHERE id = ? AND lease_token = ? AND status = 'running' RETURNING concurrency_key`,
);

function finishValues(t: FinishRunWithError): unknown[] {
  const runFailure = t.stepFailure ? 0 : 1;
  return [t.status, t.error, runFailure, t.now, t.now, t.runId, t.leaseToken];
}

export function finishRunWithErrorOnSqlite(
  s: SqliteStatements<
    | "finishRunWithError"
    | "recordStepFailure"
    | "recordHistory"
    | "releaseConcurrencySlot"
    | "forgetIdleConcurrencyKey"
    | "promoteOldestBlocked"
  >,
  t: FinishRunWithError,
): boolean {
  const row = s.finishRunWithError.get(...finishValues(t)) as { concurrency_key: string | null } | undefined;
  if (!row) return false;
  recordFailedAttemptOnSqlite(s, t, t.status);
  releaseConcurrencySlotOnSqlite(s, row.concurrency_key, t.now);
  return true;
}

/** The run's key, if any, is added to `freedKeys`: released once the whole batch is applied, in key order. */
export async function finishRunWithErrorOnPostgres(
  client: PostgresClient,
  t: FinishRunWithError,
  freedKeys: string[],
): Promise<boolean> {
  const { rows } = await client.query<{ concurrency_key: string | null }>(finishRunWithError.postgres, finishValues(t));
  const row = rows[0];
  if (!row) return false;
  await recordFailedAttemptOnPostgres(client, t, t.status);
  if (row.concurrency_key !== null) freedKeys.push(row.concurrency_key);
  return true;
}
