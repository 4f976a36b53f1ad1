import type { RunTransition } from "../contract.ts";
import { inBothDialects, type PostgresClient, type SqliteStatements } from "./dialects.ts";
import { recordHistoryOnPostgres, recordHistoryOnSqlite } from "./record-history.ts";

type WaitRun = Extract<RunTransition, { kind: "waitRun" }>;

/**
 * running → waiting on a connection until `availableAt` (its circuit is open, or its rate limit asks for a pause),
 * under the caller's lease. No attempt is used: the connection, not the run, is what failed. A circuit that closes
 * early wakes the run early (wake-waiting-runs.ts); a claim ends the wait.
 */
export const waitRun = inBothDialects(
  `UPDATE runs SET status = 'waiting', available_at = ?, waiting_on = ?, last_error = ?, crashes = 0, lease_token = NULL, lease_until = NULL, updated_at = ?
    WHERE id = ? AND lease_token = ? AND status = 'running'`,
);

function waitValues(t: WaitRun): unknown[] {
  return [t.availableAt, t.connectionId, t.reason, t.now, t.runId, t.leaseToken];
}

function waitHistory(t: WaitRun) {
  const { runId, connectionId, now: at, availableAt: until, reason: detail } = t;
  return { runId, kind: "wait", connectionId, at, until, detail } as const;
}

export function waitRunOnSqlite(s: SqliteStatements<"waitRun" | "recordHistory">, t: WaitRun): boolean {
  const ok = s.waitRun.run(...waitValues(t)).changes === 1;
  if (ok) recordHistoryOnSqlite(s, waitHistory(t));
  return ok;
}

export async function waitRunOnPostgres(client: PostgresClient, t: WaitRun): Promise<boolean> {
  const { rowCount } = await client.query(waitRun.postgres, waitValues(t));
  if (rowCount !== 1) return false;
  await recordHistoryOnPostgres(client, waitHistory(t));
  return true;
}
