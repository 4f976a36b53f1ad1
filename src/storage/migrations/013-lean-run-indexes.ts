import { type Kysely, sql } from "kysely";

/**
 * Fewer writes per run. Every status change of a run (queued → running → succeeded, at least) rewrites its
 * entry in each full index that holds `status`; at 40,000 runs two of them cost 15% of the engine's throughput
 * (bench:engine):
 * - `runs_status (status, seq)` goes: `runs_status_created (status, created_at, seq)` answers the counts by
 *   status and the lists by status, newest first (runs are listed by `(created_at, seq)` everywhere);
 * - `runs_finished` holds finished runs only (a run enters it once, when it ends), with `seq` so a bulk replay
 *   pages through it by `(finished_at, seq)`; retention finds the oldest finished runs of a status in it.
 *   A query's `finished_at < ?` or `finished_at <= ?` implies the index's condition, on both backends;
 * - a run's first claim is its row's (`started_at`, and the new `claimed_by`), not a history row: only later
 *   claims (after a retry, a wait, a crash, a replay) are written to run_history. `claims` counts them; it is
 *   NULL in runs written before this migration (a claim counts those from `started_at`).
 */
export function leanRunIndexesSchema(_dialect: "sqlite" | "postgres") {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable("runs").addColumn("claims", "integer").execute();
      await db.schema.alterTable("runs").addColumn("claimed_by", "text").execute();
      await db.schema.dropIndex("runs_status").execute();
      await db.schema.dropIndex("runs_finished").execute();
      await db.schema
        .createIndex("runs_finished")
        .on("runs")
        .columns(["status", "finished_at", "seq"])
        .where(sql.ref("finished_at"), "is not", null)
        .execute();
    },
  };
}
