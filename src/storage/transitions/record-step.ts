import type { RunTransition } from "../contract.ts";
import type { PostgresClient, SqliteStatements } from "./dialects.ts";

type RecordStep = Extract<RunTransition, { kind: "recordStep" }>;

/**
 * running → running: journals a completed step, only while the caller still holds the run's lease (its token,
 * status running). The step row keeps when its last attempt started; no history row (a success costs one write).
 */
export const recordStep = {
  sqlite: `INSERT INTO steps (run_id, name, status, output, error, failures, started_at, updated_at)
    SELECT ?, ?, 'completed', ?, NULL, 0, ?, ?
    WHERE EXISTS (SELECT 1 FROM runs WHERE id = ? AND lease_token = ? AND status = 'running')
    ON CONFLICT (run_id, name) DO UPDATE SET status = 'completed', output = excluded.output, error = NULL,
      started_at = excluded.started_at, updated_at = excluded.updated_at`,
  /**
   * The steps of a whole batch of runs in one statement. Answers with the lease token of each written step: a
   * stale and a current execution of one run can share a batch, and only the holder's write may be reported as done.
   */
  postgres: `WITH held AS (
      SELECT v.run_id, v.lease_token, v.name, v.output, v.started_at, v.now
      FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[])
        AS v(run_id, lease_token, name, output, now, started_at)
      JOIN runs r ON r.id = v.run_id AND r.lease_token = v.lease_token AND r.status = 'running'),
    written AS (
      INSERT INTO steps (run_id, name, status, output, error, failures, started_at, updated_at)
      SELECT run_id, name, 'completed', output, NULL, 0, started_at, now FROM held
      ON CONFLICT (run_id, name) DO UPDATE SET status = 'completed', output = EXCLUDED.output, error = NULL,
        started_at = EXCLUDED.started_at, updated_at = EXCLUDED.updated_at)
    SELECT run_id, lease_token FROM held`,
} as const;

export function recordStepOnSqlite(s: SqliteStatements<"recordStep">, t: RecordStep): boolean {
  return s.recordStep.run(t.runId, t.name, t.outputJson, t.startedAt, t.now, t.runId, t.leaseToken).changes === 1;
}

/** One outcome per step, in order: whether it was written. */
export async function recordStepsOnPostgres(client: PostgresClient, steps: RecordStep[]): Promise<boolean[]> {
  const { rows } = await client.query<{ run_id: string; lease_token: string }>({
    name: "tenon_record_steps",
    text: recordStep.postgres,
    values: [
      steps.map((t) => t.runId),
      steps.map((t) => t.leaseToken),
      steps.map((t) => t.name),
      steps.map((t) => t.outputJson),
      steps.map((t) => t.now),
      steps.map((t) => t.startedAt),
    ],
  });
  const written = new Set(rows.map((r) => `${r.run_id}\u0000${r.lease_token}`));
  return steps.map((t) => written.has(`${t.runId}\u0000${t.leaseToken}`));
}
