import { type Kysely, sql } from "kysely";

/**
 * Reconciliation (src/reconciliation/): the reconciliations a deployment declares (so the API and the CLI can
 * list them without its code), one report per reconciliation run, the records its listers spilled (a temporary
 * table, emptied when the run's report is complete), the findings of each report, and the findings' identity
 * across runs (first seen, last seen, resolved).
 */
export function reconciliationSchema(dialect: "sqlite" | "postgres") {
  const int64 = dialect === "postgres" ? "bigint" : "integer";
  // Keys are merged in byte order on both backends and in the engine: PostgreSQL's default collation follows
  // the locale (where "a" < "B"), SQLite's and "C" compare bytes.
  const keyType = dialect === "postgres" ? sql`text collate "C"` : sql`text`;
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable("reconciliations")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("definition", "text", (c) => c.notNull())
        .addColumn("updated_at", int64, (c) => c.notNull())
        .execute();
      await db.schema
        .createTable("reconcile_reports")
        .addColumn("run_id", "text", (c) => c.primaryKey())
        .addColumn("reconciliation_id", "text", (c) => c.notNull())
        .addColumn("number", "integer", (c) => c.notNull())
        .addColumn("dry_run", "integer", (c) => c.notNull())
        .addColumn("status", "text", (c) => c.notNull())
        .addColumn("started_at", int64, (c) => c.notNull())
        .addColumn("finished_at", int64)
        .addColumn("counts", "text")
        .addUniqueConstraint("reconcile_reports_number", ["reconciliation_id", "number"])
        .execute();
      await db.schema
        .createTable("reconcile_records")
        .addColumn("run_id", "text", (c) => c.notNull())
        .addColumn("side", "text", (c) => c.notNull())
        .addColumn("page", "integer", (c) => c.notNull())
        .addColumn("position", "integer", (c) => c.notNull())
        .addColumn("match_key", keyType, (c) => c.notNull())
        .addColumn("fields", "text", (c) => c.notNull())
        .addPrimaryKeyConstraint("reconcile_records_pk", ["run_id", "side", "page", "position"])
        .execute();
      // The sorted merge reads each side in key order, a page at a time, from here.
      await db.schema
        .createIndex("reconcile_records_key")
        .on("reconcile_records")
        .columns(["run_id", "side", "match_key", "page", "position"])
        .execute();
      await db.schema
        .createTable("reconcile_report_findings")
        .addColumn("run_id", "text", (c) => c.notNull())
        .addColumn("finding_id", "text", (c) => c.notNull())
        .addColumn("type", "text", (c) => c.notNull())
        .addColumn("match_key", keyType, (c) => c.notNull())
        .addColumn("field", "text")
        .addColumn("left_fields", "text")
        .addColumn("right_fields", "text")
        .addPrimaryKeyConstraint("reconcile_report_findings_pk", ["run_id", "finding_id"])
        .execute();
      await db.schema
        .createTable("reconcile_findings")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("reconciliation_id", "text", (c) => c.notNull())
        .addColumn("type", "text", (c) => c.notNull())
        .addColumn("match_key", keyType, (c) => c.notNull())
        .addColumn("field", "text")
        .addColumn("left_fields", "text")
        .addColumn("right_fields", "text")
        .addColumn("first_seen_at", int64, (c) => c.notNull())
        .addColumn("last_seen_at", int64, (c) => c.notNull())
        .addColumn("last_run_id", "text", (c) => c.notNull())
        .addColumn("resolved_at", int64)
        .addColumn("occurrence", "integer", (c) => c.notNull())
        .addColumn("repair_requested_at", int64)
        .addColumn("repair_requested_by", "text")
        .execute();
      // Open findings per reconciliation: the alert rule's question and the report's.
      await db.schema
        .createIndex("reconcile_findings_open")
        .on("reconcile_findings")
        .columns(["reconciliation_id", "match_key"])
        .where(sql.ref("resolved_at"), "is", null)
        .execute();
    },
  };
}
