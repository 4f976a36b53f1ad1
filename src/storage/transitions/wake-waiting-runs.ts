import type { PostgresClient, SqliteStatements } from "./dialects.ts";
import { notifyRunsAvailable } from "./runs-available.ts";

/**
 * waiting → waiting, due now instead of later, for every run waiting on a connection whose circuit closed (in the
 * connection store's recordCircuitSuccess, in the transaction that closes it): the API is back, so runs waiting
 * out the circuit's cooldown need not wait any longer. Each woken run's history tells why.
 */
export const wakeWaitingRuns = {
  sqlite: `UPDATE runs SET available_at = @now, updated_at = @now
    WHERE status = 'waiting' AND waiting_on = @connectionId AND available_at > @now`,
  /** The history rows in the same statement. */
  postgres: `WITH woken AS (
      UPDATE runs SET available_at = $2, updated_at = $2
      WHERE status = 'waiting' AND waiting_on = $1 AND available_at > $2 RETURNING id),
    recorded AS (INSERT INTO run_history (run_id, kind, connection_id, at, detail)
      SELECT id, 'resume', $1, $2, 'the circuit closed' FROM woken)
    SELECT id FROM woken`,
} as const;
/** SQLite: written before wakeWaitingRuns, in its transaction, for the runs it wakes. */
export const recordWakes = {
  sqlite: `INSERT INTO run_history (run_id, kind, connection_id, at, detail)
    SELECT id, 'resume', @connectionId, @now, 'the circuit closed' FROM runs
    WHERE status = 'waiting' AND waiting_on = @connectionId AND available_at > @now`,
} as const;

/** Returns how many runs were woken. */
export function wakeWaitingRunsOnSqlite(
  s: SqliteStatements<"recordWakes" | "wakeWaitingRuns">,
  connectionId: string,
  now: number,
): number {
  s.recordWakes.run({ connectionId, now });
  return s.wakeWaitingRuns.run({ connectionId, now }).changes;
}

export async function wakeWaitingRunsOnPostgres(
  client: PostgresClient,
  connectionId: string,
  now: number,
): Promise<number> {
  const woken = (await client.query(wakeWaitingRuns.postgres, [connectionId, now])).rowCount ?? 0;
  if (woken > 0) await client.query(notifyRunsAvailable.postgres);
  return woken;
}
