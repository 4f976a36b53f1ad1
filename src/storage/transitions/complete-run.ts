import type { RunTransition } from "../contract.ts";
import type { PostgresClient, SqliteStatements } from "./dialects.ts";
import { releaseConcurrencySlotOnSqlite } from "./release-concurrency-slot.ts";

type CompleteRun = Extract<RunTransition, { kind: "completeRun" }>;

/**
 * running → succeeded, under the caller's lease; then the run's concurrency slot goes to the oldest blocked run of
 * its key (release-concurrency-slot.ts). A succeeded run keeps no last error: its earlier failures stay in
 * run_history, as attempts. Its success is the run row itself (status, finished_at): no history row, the timeline
 * reads it from there. A run without a concurrency key (most) completes in this one statement.
 */
export const completeRun = {
  sqlite: `UPDATE runs SET status = 'succeeded', output = ?, last_error = NULL, lease_token = NULL, lease_until = NULL, finished_at = ?, updated_at = ?
    WHERE id = ? AND lease_token = ? AND status = 'running' RETURNING concurrency_key`,
  /** The runs of a whole batch in one statement. */
  postgres: `UPDATE runs r SET status = 'succeeded', output = v.output, last_error = NULL, lease_token = NULL, lease_until = NULL, finished_at = v.now, updated_at = v.now
      FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS v(id, lease_token, output, now)
      WHERE r.id = v.id AND r.lease_token = v.lease_token AND r.status = 'running'
      RETURNING r.id, v.lease_token, r.concurrency_key`,
} as const;

export function completeRunOnSqlite(
  s: SqliteStatements<"completeRun" | "releaseConcurrencySlot" | "forgetIdleConcurrencyKey" | "promoteOldestBlocked">,
  t: CompleteRun,
): boolean {
  const row = s.completeRun.get(t.outputJson, t.now, t.now, t.runId, t.leaseToken) as
    | { concurrency_key: string | null }
    | undefined;
  if (!row) return false;
  releaseConcurrencySlotOnSqlite(s, row.concurrency_key, t.now);
  return true;
}

/**
 * One outcome per completion, in order. The keys of the completed runs are added to `freedKeys`: their slots are
 * released once the whole batch is applied, in key order (releaseConcurrencySlotsOnPostgres).
 */
export async function completeRunsOnPostgres(
  client: PostgresClient,
  completions: CompleteRun[],
  freedKeys: string[],
): Promise<boolean[]> {
  const { rows } = await client.query<{ id: string; lease_token: string; concurrency_key: string | null }>({
    name: "tenon_complete_runs",
    text: completeRun.postgres,
    values: [
      completions.map((t) => t.runId),
      completions.map((t) => t.leaseToken),
      completions.map((t) => t.outputJson),
      completions.map((t) => t.now),
    ],
  });
  for (const row of rows) if (row.concurrency_key !== null) freedKeys.push(row.concurrency_key);
  const done = new Set(rows.map((r) => `${r.id}\u0000${r.lease_token}`));
  return completions.map((t) => done.has(`${t.runId}\u0000${t.leaseToken}`));
}
