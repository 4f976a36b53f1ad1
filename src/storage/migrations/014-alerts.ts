import type { Kysely } from "kysely";

/**
 * Alert state (src/alerting/): one row per alert, keyed by its fingerprint (rule + subject). A row lives on
 * across episodes: it fires, resolves, and may fire again (`episode` counts them, and each notification of an
 * episode has its number, so a notification re-sent after a crash is recognised as the same one).
 * Evaluation runs in one worker at a time, under the `alerts` row of `maintenance_leases` (migration 012).
 */
export function alertsSchema(dialect: "sqlite" | "postgres") {
  const int64 = dialect === "postgres" ? "bigint" : "integer";
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable("alerts")
        .addColumn("fingerprint", "text", (c) => c.primaryKey())
        .addColumn("rule", "text", (c) => c.notNull())
        .addColumn("subject", "text", (c) => c.notNull())
        .addColumn("severity", "text", (c) => c.notNull())
        .addColumn("summary", "text", (c) => c.notNull())
        .addColumn("labels", "text", (c) => c.notNull())
        .addColumn("status", "text", (c) => c.notNull())
        .addColumn("episode", "integer", (c) => c.notNull())
        .addColumn("count", int64, (c) => c.notNull())
        .addColumn("first_seen_at", int64, (c) => c.notNull())
        .addColumn("last_seen_at", int64, (c) => c.notNull())
        .addColumn("cleared_since", int64)
        .addColumn("resolved_at", int64)
        .addColumn("notifications", "integer", (c) => c.notNull())
        .addColumn("notified_at", int64)
        .addColumn("acked_at", int64)
        .addColumn("acked_by", "text")
        .addColumn("snoozed_until", int64)
        .execute();
      await db.schema.createIndex("alerts_status").on("alerts").columns(["status", "last_seen_at"]).execute();
    },
  };
}
