import { type Kysely, sql } from "kysely";

/**
 * API drift detection (src/drift/): the shapes Tenon learned of what it receives, one row per shape key and a
 * few kilobytes at most (the learner caps paths per shape), and the drift incidents found against them, one per
 * (shape, field, change) however many bodies showed it.
 */
export function driftSchema(dialect: "sqlite" | "postgres") {
  const int64 = dialect === "postgres" ? "bigint" : "integer";
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable("drift_shapes")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("kind", "text", (c) => c.notNull())
        .addColumn("subject", "text", (c) => c.notNull())
        .addColumn("method", "text")
        .addColumn("route_template", "text")
        .addColumn("status", "integer")
        .addColumn("event_type", "text")
        .addColumn("generation", "integer", (c) => c.notNull())
        .addColumn("baseline", "text")
        .addColumn("updated_at", int64, (c) => c.notNull())
        .execute();
      await db.schema
        .createTable("drift_incidents")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("shape_id", "text", (c) => c.notNull())
        .addColumn("kind", "text", (c) => c.notNull())
        .addColumn("subject", "text", (c) => c.notNull())
        .addColumn("method", "text")
        .addColumn("route_template", "text")
        .addColumn("status", "integer")
        .addColumn("event_type", "text")
        .addColumn("field_path", "text", (c) => c.notNull())
        .addColumn("change", "text", (c) => c.notNull())
        .addColumn("breaking", "integer", (c) => c.notNull())
        .addColumn("example", "text")
        .addColumn("detected_at", int64, (c) => c.notNull())
        .addColumn("last_seen_at", int64, (c) => c.notNull())
        .addColumn("seen_count", int64, (c) => c.notNull())
        .addColumn("accepted_at", int64)
        .addColumn("accepted_by", "text")
        .addUniqueConstraint("drift_incidents_field_change", ["shape_id", "field_path", "change"])
        .execute();
      // The list, newest first, and the alert rule's question (open breaking drift) without walking accepted ones.
      await db.schema
        .createIndex("drift_incidents_detected")
        .on("drift_incidents")
        .columns(["detected_at", "id"])
        .execute();
      await db.schema
        .createIndex("drift_incidents_open")
        .on("drift_incidents")
        .columns(["breaking", "detected_at", "id"])
        .where(sql.ref("accepted_at"), "is", null)
        .execute();
    },
  };
}
