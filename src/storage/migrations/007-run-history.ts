import { type Kysely, sql } from "kysely";

/**
 * What happened to a run besides its completed steps, for `tenon runs show`: each failed attempt (of a step,
 * or of the run outside any step) with its full error, each wait, pause, sleep and interruption with its
 * reason, and each replay. A row is written only on those paths, never when a step succeeds: the successful
 * attempt of a step is its journal row, which now also keeps when that attempt started.
 */
export function runHistorySchema(dialect: "sqlite" | "postgres") {
  const int64 = dialect === "postgres" ? "bigint" : "integer";
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable("steps").addColumn("started_at", int64).execute();
      await db.schema
        .createTable("run_history")
        .addColumn("seq", dialect === "postgres" ? "bigserial" : "integer", (c) =>
          dialect === "postgres" ? c.primaryKey() : c.primaryKey().autoIncrement(),
        )
        .addColumn("run_id", "text", (c) => c.notNull())
        // retry | dead | failed (an attempt failed, and what became of the run), wait, pause, sleep, interrupt, replay
        .addColumn("kind", "text", (c) => c.notNull())
        .addColumn("step_name", "text")
        .addColumn("attempt", "integer")
        .addColumn("connection_id", "text")
        .addColumn("started_at", int64)
        .addColumn("at", int64, (c) => c.notNull())
        .addColumn("until_at", int64)
        .addColumn("detail", "text")
        .execute();
      await db.schema.createIndex("run_history_run").on("run_history").columns(["run_id", "seq"]).execute();
      // Runs that succeeded before completeRun cleared it kept the error of an earlier attempt.
      await sql`UPDATE runs SET last_error = NULL WHERE status = 'succeeded' AND last_error IS NOT NULL`.execute(db);
    },
  };
}
