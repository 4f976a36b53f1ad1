import { inBothDialects, type PostgresClient, type SqliteStatements } from "./dialects.ts";
import { notifyRunsAvailable } from "./runs-available.ts";

/**
 * running → queued, due now, under the caller's lease: the worker hands the run back (graceful shutdown, or a
 * pause whose connection got new credentials meanwhile). Nothing is counted and no history is written.
 */
export const releaseRun = inBothDialects(
  `UPDATE runs SET status = 'queued', available_at = ?, lease_token = NULL, lease_until = NULL, updated_at = ?
    WHERE id = ? AND lease_token = ? AND status = 'running'`,
);

interface Release {
  runId: string;
  leaseToken: string;
  now: number;
}

export function releaseRunOnSqlite(s: SqliteStatements<"releaseRun">, t: Release): boolean {
  return s.releaseRun.run(t.now, t.now, t.runId, t.leaseToken).changes === 1;
}

export async function releaseRunOnPostgres(client: PostgresClient, t: Release): Promise<boolean> {
  const { rowCount } = await client.query(releaseRun.postgres, [t.now, t.now, t.runId, t.leaseToken]);
  if (rowCount === 1) await client.query(notifyRunsAvailable.postgres);
  return rowCount === 1;
}
