import type pg from "pg";
import { auditColumns } from "../connection-rows.ts";
import type { AuditRecord } from "../connection-store.ts";
import type { RunTransition } from "../contract.ts";

/** Every record in one statement: one array per column. */
export const insertAuditSql = `INSERT INTO audit_log (${auditColumns})
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::integer[], $8::text[],
      $9::integer[], $10::text[], $11::text[], $12::text[], $13::text[], $14::bigint[])`;

/**
 * Writes audit records on `db` (the pool, or the client of a transaction): the audit trail's buffered batches
 * (PostgresConnections), and the records the run transitions of a batch carry, in the transaction of those
 * transitions (PostgresStorage).
 */
export async function writeAuditRecords(db: pg.Pool | pg.PoolClient, records: readonly AuditRecord[]): Promise<void> {
  if (records.length === 0) return;
  await db.query({
    name: "tenon_insert_audit",
    text: insertAuditSql,
    values: [
      records.map((r) => r.id),
      records.map((r) => r.connectionId),
      records.map((r) => r.runId),
      records.map((r) => r.stepName),
      records.map((r) => r.method),
      records.map((r) => r.url),
      records.map((r) => r.status),
      records.map((r) => r.error),
      records.map((r) => r.durationMs),
      records.map((r) => r.requestHeaders),
      records.map((r) => r.requestBody),
      records.map((r) => r.responseHeaders),
      records.map((r) => r.responseBody),
      records.map((r) => r.at),
    ],
  });
}

/** The records the transitions carry, written whether or not each transition applies (the exchanges happened). */
export function writeAuditCarriedBy(client: pg.PoolClient, transitions: readonly RunTransition[]): Promise<void> {
  return writeAuditRecords(
    client,
    transitions.flatMap((t) => t.audit ?? []),
  );
}
