import { type HistoryInput, noHistoryFields } from "../run-history-input.ts";
import { inBothDialects, type PostgresClient, type SqliteStatements } from "./dialects.ts";

/**
 * Failed attempts, waits, pauses, sleeps, interruptions and replays: never a step that succeeded. Written by the
 * transition it tells of, in that transition's transaction.
 */
export const recordHistory = inBothDialects(
  `INSERT INTO run_history (run_id, kind, step_name, attempt, connection_id, started_at, at, until_at, detail, actor)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
);

function historyValues(input: HistoryInput): unknown[] {
  const e = { ...noHistoryFields, ...input };
  return [e.runId, e.kind, e.stepName, e.attempt, e.connectionId, e.startedAt, e.at, e.until, e.detail, e.actor];
}

export function recordHistoryOnSqlite(s: SqliteStatements<"recordHistory">, input: HistoryInput): void {
  s.recordHistory.run(...historyValues(input));
}

export async function recordHistoryOnPostgres(client: PostgresClient, input: HistoryInput): Promise<void> {
  await client.query(recordHistory.postgres, historyValues(input));
}
