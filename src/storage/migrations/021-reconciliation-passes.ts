import type { Kysely } from "kysely";

/**
 * Reconciliation passes (issue 17): a report says whether its run was a full or an incremental pass (and its
 * `since`), and how it matched the sides (stored then merged, or merged as sorted listers streamed). Spilled
 * records carry the record's own id: an incremental reconciliation keeps its passes' records, and a record listed
 * again replaces what an older pass kept of it, found by that id.
 */
export function reconciliationPassesSchema(dialect: "sqlite" | "postgres") {
  const int64 = dialect === "postgres" ? "bigint" : "integer";
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      // Reports from before were all full passes.
      await db.schema
        .alterTable("reconcile_reports")
        .addColumn("pass", "text", (c) => c.notNull().defaultTo("full"))
        .execute();
      await db.schema.alterTable("reconcile_reports").addColumn("since", int64).execute();
      await db.schema.alterTable("reconcile_reports").addColumn("merge_method", "text").execute();
      await db.schema.alterTable("reconcile_reports").addColumn("merge_note", "text").execute();
      await db.schema.alterTable("reconcile_records").addColumn("record_id", "text").execute();
      // An incremental pass asks, of each kept record, whether a newer pass listed it again.
      await db.schema
        .createIndex("reconcile_records_record")
        .on("reconcile_records")
        .columns(["run_id", "side", "record_id"])
        .execute();
    },
  };
}
