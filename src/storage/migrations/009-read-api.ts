import type { Kysely } from "kysely";

/**
 * Indexes for the read API (`GET /api/runs`, `GET /api/events`, `GET /api/health`): every filter it offers walks
 * an index in the order it answers (newest first, keyset on `(created_at, seq)` for runs and `(received_at, id)`
 * for events), so a page costs the same at a million rows as at a hundred.
 *
 * `runs_integration_status` gains `created_at`: one index then serves "this integration's runs in this status,
 * newest first" and the counts by status it served before, so the runs table keeps the same number of indexes
 * that change with a run's status, plus one (`runs_status_created`).
 */
export function readApiSchema(_dialect: "sqlite" | "postgres") {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.createIndex("runs_created").on("runs").columns(["created_at", "seq"]).execute();
      await db.schema.createIndex("runs_status_created").on("runs").columns(["status", "created_at", "seq"]).execute();
      await db.schema
        .createIndex("runs_integration_created")
        .on("runs")
        .columns(["integration_id", "created_at", "seq"])
        .execute();
      await db.schema.dropIndex("runs_integration_status").execute();
      await db.schema
        .createIndex("runs_integration_status_created")
        .on("runs")
        .columns(["integration_id", "status", "created_at", "seq"])
        .execute();
      await db.schema
        .createIndex("events_source_received")
        .on("events")
        .columns(["source", "received_at", "id"])
        .execute();
      await db.schema
        .createIndex("events_source_type_received")
        .on("events")
        .columns(["source", "type", "received_at", "id"])
        .execute();
    },
  };
}
