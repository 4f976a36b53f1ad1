import { type Kysely, sql } from "kysely";

/**
 * Events, runs, the step journal, concurrency slots and schedules.
 * Times are epoch milliseconds (bigint on PostgreSQL); JSON is stored as text.
 *
 * A durable timer is a run in status `sleeping` whose `available_at` is the
 * wake time, plus the journaled sleep step that remembers it: waking up is
 * exactly a claim, so timers need no table of their own.
 */
export function initialSchema(dialect: "sqlite" | "postgres") {
  const int64 = dialect === "postgres" ? "bigint" : "integer";
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable("events")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("source", "text", (c) => c.notNull())
        .addColumn("type", "text", (c) => c.notNull())
        .addColumn("dedup_key", "text")
        .addColumn("payload", "text", (c) => c.notNull())
        .addColumn("status", "text", (c) => c.notNull())
        .addColumn("received_at", int64, (c) => c.notNull())
        .execute();
      // NULL dedup keys never collide, so events without a provider id are never deduplicated.
      await db.schema.createIndex("events_dedup").on("events").columns(["source", "dedup_key"]).unique().execute();
      await db.schema.createIndex("events_received").on("events").columns(["received_at"]).execute();

      await db.schema
        .createTable("runs")
        .addColumn("seq", dialect === "postgres" ? "bigserial" : "integer", (c) =>
          dialect === "postgres" ? c.primaryKey() : c.primaryKey().autoIncrement(),
        )
        .addColumn("id", "text", (c) => c.notNull().unique())
        .addColumn("integration_id", "text", (c) => c.notNull())
        .addColumn("event_id", "text", (c) => c.notNull())
        .addColumn("status", "text", (c) => c.notNull())
        .addColumn("concurrency_key", "text")
        .addColumn("concurrency_limit", "integer")
        .addColumn("available_at", int64, (c) => c.notNull())
        .addColumn("lease_token", "text")
        .addColumn("lease_until", int64)
        .addColumn("failures", "integer", (c) => c.notNull().defaultTo(0))
        .addColumn("last_error", "text")
        .addColumn("output", "text")
        .addColumn("created_at", int64, (c) => c.notNull())
        .addColumn("started_at", int64)
        .addColumn("finished_at", int64)
        .addColumn("updated_at", int64, (c) => c.notNull())
        .execute();
      // The claim query walks this partial index only: it stays small however many finished runs pile up.
      await db.schema
        .createIndex("runs_due")
        .on("runs")
        .columns(["available_at", "seq"])
        .where(sql.ref("status"), "in", ["queued", "retrying", "sleeping"])
        .execute();
      await db.schema
        .createIndex("runs_lease")
        .on("runs")
        .columns(["lease_until"])
        .where(sql.ref("status"), "=", "running")
        .execute();
      await db.schema
        .createIndex("runs_blocked")
        .on("runs")
        .columns(["concurrency_key", "seq"])
        .where(sql.ref("status"), "=", "blocked")
        .execute();
      await db.schema.createIndex("runs_event").on("runs").columns(["event_id"]).execute();
      await db.schema
        .createIndex("runs_integration_status")
        .on("runs")
        .columns(["integration_id", "status", "seq"])
        .execute();
      await db.schema.createIndex("runs_status").on("runs").columns(["status", "seq"]).execute();

      await db.schema
        .createTable("steps")
        .addColumn("run_id", "text", (c) => c.notNull())
        .addColumn("name", "text", (c) => c.notNull())
        .addColumn("status", "text", (c) => c.notNull())
        .addColumn("output", "text")
        .addColumn("error", "text")
        .addColumn("failures", "integer", (c) => c.notNull().defaultTo(0))
        .addColumn("updated_at", int64, (c) => c.notNull())
        .addPrimaryKeyConstraint("steps_pk", ["run_id", "name"])
        .execute();

      // One row per concurrency key with unfinished runs: `active` counts them (blocked ones included).
      await db.schema
        .createTable("concurrency_keys")
        .addColumn("key", "text", (c) => c.primaryKey())
        .addColumn("active", "integer", (c) => c.notNull())
        .execute();

      await db.schema
        .createTable("schedules")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("last_tick_at", int64)
        .execute();
    },
  };
}
