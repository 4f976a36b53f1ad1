import type { Kysely } from "kysely";

/**
 * Bulk actions (src/replay/bulk-actions.ts): a replay of every run or event that matches a filter, run as a job
 * whose progress is stored, so every worker answers the same about it and a process that dies mid-job leaves
 * a row that says so.
 *
 * `selection` is the job's fixed selection as JSON (the filter, and the moment it was taken, so a resumed job
 * reads the same set); `cursor` is where the next page starts (JSON; null before the first page). The counts
 * move after each page, in the statement that renews the lease. `owner` and `lease_until` are the heartbeat of
 * the process working on it: a `running` job whose lease has lapsed is interrupted (its process stopped or
 * died) and may be resumed by any worker, from `cursor`. `other` and `reasons` are JSON maps (outcomes that
 * are neither replayed, skipped nor failed, such as an event that stays quarantined; and why, by count).
 */
export function bulkActionsSchema(dialect: "sqlite" | "postgres") {
  const int64 = dialect === "postgres" ? "bigint" : "integer";
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable("bulk_actions")
        .addColumn("id", "text", (c) => c.primaryKey())
        // replay-runs | replay-events
        .addColumn("kind", "text", (c) => c.notNull())
        .addColumn("selection", "text", (c) => c.notNull())
        // The token's (or session's) name and role, as the operator log names them.
        .addColumn("actor", "text", (c) => c.notNull())
        .addColumn("actor_role", "text")
        .addColumn("total", "integer", (c) => c.notNull())
        .addColumn("replayed", "integer", (c) => c.notNull().defaultTo(0))
        .addColumn("skipped", "integer", (c) => c.notNull().defaultTo(0))
        .addColumn("failed", "integer", (c) => c.notNull().defaultTo(0))
        .addColumn("other", "text", (c) => c.notNull().defaultTo("{}"))
        .addColumn("reasons", "text", (c) => c.notNull().defaultTo("{}"))
        .addColumn("cursor", "text")
        // running | finished | failed (interrupted: running with its lease lapsed)
        .addColumn("state", "text", (c) => c.notNull())
        .addColumn("error", "text")
        .addColumn("owner", "text")
        .addColumn("lease_until", int64, (c) => c.notNull())
        .addColumn("started_at", int64, (c) => c.notNull())
        .addColumn("updated_at", int64, (c) => c.notNull())
        .addColumn("finished_at", int64)
        .execute();
      // The list, newest first.
      await db.schema.createIndex("bulk_actions_started").on("bulk_actions").columns(["started_at", "id"]).execute();
    },
  };
}
