import type { Kysely } from "kysely";

/**
 * Ingestion: quarantined events keep their reason, API events their request
 * fingerprint (Idempotency-Key: same key with a different body is refused),
 * and each poll source its cursor and lease.
 */
export function ingestionSchema(dialect: "sqlite" | "postgres") {
  const int64 = dialect === "postgres" ? "bigint" : "integer";
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      // Why the event is quarantined (status "quarantined"); null otherwise.
      await db.schema.alterTable("events").addColumn("error", "text").execute();
      // sha256 of the request that created the event (Event API with Idempotency-Key); null otherwise.
      await db.schema.alterTable("events").addColumn("fingerprint", "text").execute();
      await db.schema.createIndex("events_status").on("events").columns(["status", "received_at"]).execute();

      // One row per poll source: its cursor moves in the same transaction as the events made from a page.
      await db.schema
        .createTable("poll_sources")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("cursor", "text")
        .addColumn("lease_owner", "text")
        .addColumn("lease_until", int64)
        .addColumn("next_poll_at", int64, (c) => c.notNull())
        .addColumn("consecutive_failures", "integer", (c) => c.notNull().defaultTo(0))
        .addColumn("last_success_at", int64)
        .addColumn("last_error", "text")
        .addColumn("last_error_at", int64)
        .addColumn("items_ingested", int64, (c) => c.notNull().defaultTo(0))
        .execute();
    },
  };
}
