import { type Kysely, sql } from "kysely";

/**
 * What retention needs (src/engine/retention-pruner.ts): each batch finds its rows through an index, so a
 * batch costs the same at a million rows as at a thousand, and one worker at a time prunes, under a lease.
 */
export function retentionSchema(dialect: "sqlite" | "postgres") {
  const int64 = dialect === "postgres" ? "bigint" : "integer";
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      // Terminal runs by status, oldest finished first (runs_status orders by seq, which is creation, not finish).
      await db.schema.createIndex("runs_finished").on("runs").columns(["status", "finished_at"]).execute();
      // Exchanges outside any run (token requests) are pruned by age; a run's exchanges go with the run, so
      // they are left out here and the oldest run-less rows are found without walking past them.
      await db.schema
        .createIndex("audit_log_runless")
        .on("audit_log")
        .columns(["at"])
        .where(sql.ref("run_id"), "is", null)
        .execute();
      // One row per periodic job that only one worker may run at a time (PostgreSQL): "retention".
      await db.schema
        .createTable("maintenance_leases")
        .addColumn("name", "text", (c) => c.primaryKey())
        .addColumn("owner", "text", (c) => c.notNull())
        .addColumn("until", int64, (c) => c.notNull())
        .execute();
    },
  };
}
