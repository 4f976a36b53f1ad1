import type { Kysely } from "kysely";

/**
 * Operational webhooks (src/operational-webhooks/): what the pump has read, and each subscriber's delivery health.
 * - `operational_webhook_cursors`: one row per source the pump reads (ended runs, connection incidents, drift
 *   incidents), at the last item it turned into deliveries. `version` makes each move a compare-and-set, so two
 *   pumps (one whose lease lapsed) never both move it.
 * - `operational_webhooks`: one row per subscriber that has had a delivery outcome, a skip or an operator's
 *   enable: its failures in a row and since when, its last success, whether it is disabled.
 * - `connection_incidents_at`: the pump reads connection incidents of every connection in `(at, id)` order.
 */
export function operationalWebhooksSchema(dialect: "sqlite" | "postgres") {
  const int64 = dialect === "postgres" ? "bigint" : "integer";
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable("operational_webhook_cursors")
        .addColumn("source", "text", (c) => c.primaryKey())
        .addColumn("after_at", int64, (c) => c.notNull())
        .addColumn("after_seq", int64, (c) => c.notNull())
        .addColumn("after_id", "text", (c) => c.notNull())
        .addColumn("version", int64, (c) => c.notNull())
        .addColumn("updated_at", int64, (c) => c.notNull())
        .execute();
      await db.schema
        .createTable("operational_webhooks")
        .addColumn("name", "text", (c) => c.primaryKey())
        .addColumn("consecutive_failures", int64, (c) => c.notNull().defaultTo(0))
        .addColumn("failing_since", int64)
        .addColumn("last_failed_at", int64)
        .addColumn("last_failed_seq", int64)
        .addColumn("last_success_at", int64)
        .addColumn("disabled_at", int64)
        .addColumn("disabled_reason", "text")
        .addColumn("enabled_at", int64)
        .addColumn("skipped", int64, (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema.createIndex("connection_incidents_at").on("connection_incidents").columns(["at", "id"]).execute();
    },
  };
}
