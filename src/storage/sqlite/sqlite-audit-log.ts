import type Database from "better-sqlite3";
import { auditColumns } from "../connection-rows.ts";
import type { AuditRecord } from "../connection-store.ts";
import type { RunTransition } from "../contract.ts";

/** Positional parameters: binding 14 named ones costs a row about 2 µs more (better-sqlite3 looks each name up). */
export const insertAuditSql = `INSERT INTO audit_log (${auditColumns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;

/**
 * Writes audit records in the caller's transaction: the audit trail's buffered batches (SqliteConnections), and
 * the records the run transitions of a batch carry, in the transaction of those transitions (SqliteStorage).
 */
export class SqliteAuditLog {
  readonly #db: Database.Database;
  /** Prepared at first use, when the migrations have made the table. */
  #insert: Database.Statement | undefined;

  constructor(db: Database.Database) {
    this.#db = db;
  }

  write(records: readonly AuditRecord[]): void {
    this.#insert ??= this.#db.prepare(insertAuditSql);
    const insert = this.#insert;
    for (const r of records) {
      insert.run(
        r.id,
        r.connectionId,
        r.runId,
        r.stepName,
        r.method,
        r.url,
        r.status,
        r.error,
        r.durationMs,
        r.requestHeaders,
        r.requestBody,
        r.responseHeaders,
        r.responseBody,
        r.at,
      );
    }
  }

  /** The records the transitions carry, written whether or not each transition applies (the exchanges happened). */
  writeCarriedBy(transitions: readonly RunTransition[]): void {
    for (const t of transitions) if (t.audit) this.write(t.audit);
  }
}
