import type { RunTransition } from "../contract.ts";
import { inBothDialects, type PostgresClient, type SqliteStatements } from "./dialects.ts";
import { recordHistoryOnPostgres, recordHistoryOnSqlite } from "./record-history.ts";

export type FailedAttempt = Extract<RunTransition, { kind: "retryRun" | "finishRunWithError" }>;

/** The step's journal row keeps its latest error and counts its failures. */
export const recordStepFailure = inBothDialects(
  `INSERT INTO steps (run_id, name, status, output, error, failures, started_at, updated_at) VALUES (?, ?, 'failed', NULL, ?, 1, ?, ?)
    ON CONFLICT (run_id, name) DO UPDATE SET status = 'failed', error = excluded.error, failures = steps.failures + 1,
      started_at = excluded.started_at, updated_at = excluded.updated_at`,
);

/** The failed attempt, in the step's journal row (its latest error) and in the run's history (every error). */
export function recordFailedAttemptOnSqlite(
  s: SqliteStatements<"recordStepFailure" | "recordHistory">,
  t: FailedAttempt,
  outcome: "retry" | "dead" | "failed",
): void {
  const stepName = t.stepFailure?.name ?? null;
  if (t.stepFailure)
    s.recordStepFailure.run(t.runId, t.stepFailure.name, t.stepFailure.error, t.attemptStartedAt, t.now);
  const detail = t.stepFailure?.error ?? t.error;
  const { runId, attempt, attemptStartedAt: startedAt, now: at } = t;
  const until = t.kind === "retryRun" ? t.availableAt : null;
  recordHistoryOnSqlite(s, { runId, kind: outcome, stepName, attempt, startedAt, at, until, detail });
}

export async function recordFailedAttemptOnPostgres(
  client: PostgresClient,
  t: FailedAttempt,
  outcome: "retry" | "dead" | "failed",
): Promise<void> {
  const stepName = t.stepFailure?.name ?? null;
  if (t.stepFailure) {
    const { name, error } = t.stepFailure;
    await client.query(recordStepFailure.postgres, [t.runId, name, error, t.attemptStartedAt, t.now]);
  }
  const detail = t.stepFailure?.error ?? t.error;
  const { runId, attempt, attemptStartedAt: startedAt, now: at } = t;
  const until = t.kind === "retryRun" ? t.availableAt : null;
  await recordHistoryOnPostgres(client, { runId, kind: outcome, stepName, attempt, startedAt, at, until, detail });
}
