import type pg from "pg";
import type { RenewedLease } from "../contract.ts";
import { type RenewedLeaseRow, toRenewedLease } from "../rows.ts";
import type { SqliteStatements } from "./dialects.ts";

/**
 * running → running, with `lease_until` pushed (the heartbeat): every run still held under one of the tokens.
 * Answers with the runs it pushed; a run missing from the answer was not renewed and its holder must go by the
 * lease it last had confirmed.
 */
export const extendLeases = {
  sqlite: `UPDATE runs SET lease_until = ? WHERE status = 'running' AND lease_token IN (SELECT value FROM json_each(?))
    RETURNING id, lease_token`,
  /**
   * SKIP LOCKED: it never waits for a row a transition holds, so it cannot take part in a deadlock; a row skipped
   * now is renewed by the next beat.
   */
  postgres: `UPDATE runs r SET lease_until = $1
    FROM (SELECT seq FROM runs WHERE status = 'running' AND lease_token = ANY($2::text[]) FOR NO KEY UPDATE SKIP LOCKED) held
    WHERE r.seq = held.seq RETURNING r.id, r.lease_token`,
} as const;

export function extendLeasesOnSqlite(
  s: SqliteStatements<"extendLeases">,
  leaseTokens: string[],
  leaseUntil: number,
): RenewedLease[] {
  if (leaseTokens.length === 0) return [];
  const rows = s.extendLeases.all(leaseUntil, JSON.stringify(leaseTokens)) as RenewedLeaseRow[];
  return rows.map(toRenewedLease);
}

export async function extendLeasesOnPostgres(
  pool: pg.Pool,
  leaseTokens: string[],
  leaseUntil: number,
  withRetry: <T>(work: () => Promise<T>) => Promise<T>,
): Promise<RenewedLease[]> {
  if (leaseTokens.length === 0) return [];
  const { rows } = await withRetry(() =>
    pool.query<RenewedLeaseRow>({
      name: "tenon_extend_leases",
      text: extendLeases.postgres,
      values: [leaseUntil, leaseTokens],
    }),
  );
  return rows.map(toRenewedLease);
}
