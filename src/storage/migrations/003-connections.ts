import { type Kysely, sql } from "kysely";

/**
 * Connections: stored credentials (sealed by the vault) and their auth status, the rate-limit bucket and
 * circuit breaker every worker shares, incidents, the audit trail of outbound exchanges, and the OAuth
 * states of pending authorisations.
 *
 * Runs gain two statuses, both holding their concurrency slot: `waiting` (the connection cannot take
 * requests until available_at; a circuit that closes early wakes them) and `paused` (its credentials were
 * rejected; saving new ones requeues them). `waiting_on` names the connection either waits on.
 */
export function connectionsSchema(dialect: "sqlite" | "postgres") {
  const int64 = dialect === "postgres" ? "bigint" : "integer";
  const double = dialect === "postgres" ? "double precision" : "real";
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable("runs").addColumn("waiting_on", "text").execute();
      // A waiting run wakes exactly like a sleeping one, by a claim, so the claim's partial index must cover it.
      await db.schema.dropIndex("runs_due").execute();
      await db.schema
        .createIndex("runs_due")
        .on("runs")
        .columns(["available_at", "seq"])
        .where(sql.ref("status"), "in", ["queued", "retrying", "sleeping", "waiting"])
        .execute();
      // New credentials resume the paused runs of their connection; a closing circuit wakes its waiting runs.
      await db.schema
        .createIndex("runs_waiting_on")
        .on("runs")
        .columns(["waiting_on"])
        .where(sql.ref("status"), "in", ["paused", "waiting"])
        .execute();

      await db.schema
        .createTable("connections")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("status", "text", (c) => c.notNull())
        .addColumn("status_reason", "text")
        .addColumn("status_changed_at", int64)
        .addColumn("sealed_credentials", "text")
        .addColumn("credentials_version", "integer", (c) => c.notNull().defaultTo(0))
        .addColumn("expires_at", int64)
        .addColumn("updated_at", int64, (c) => c.notNull())
        .execute();

      await db.schema
        .createTable("connection_incidents")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("connection_id", "text", (c) => c.notNull())
        .addColumn("kind", "text", (c) => c.notNull())
        .addColumn("detail", "text", (c) => c.notNull())
        .addColumn("at", int64, (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex("connection_incidents_connection")
        .on("connection_incidents")
        .columns(["connection_id", "at"])
        .execute();

      // `tokens` goes negative while callers hold reservations of future tokens.
      await db.schema
        .createTable("rate_limits")
        .addColumn("connection_id", "text", (c) => c.primaryKey())
        .addColumn("tokens", double, (c) => c.notNull())
        .addColumn("refilled_at", int64, (c) => c.notNull())
        .addColumn("paused_until", int64)
        .addColumn("slow_rate", double)
        .addColumn("slow_until", int64)
        .execute();

      await db.schema
        .createTable("circuits")
        .addColumn("connection_id", "text", (c) => c.primaryKey())
        .addColumn("status", "text", (c) => c.notNull())
        .addColumn("consecutive_failures", "integer", (c) => c.notNull().defaultTo(0))
        .addColumn("opened_at", int64)
        .addColumn("reopen_at", int64)
        .addColumn("probe_until", int64)
        .execute();

      // Ids are UUIDv7 from the caller: time-ordered, so they break ties between records of the same millisecond.
      await db.schema
        .createTable("audit_log")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("connection_id", "text", (c) => c.notNull())
        .addColumn("run_id", "text")
        .addColumn("step_name", "text")
        .addColumn("method", "text", (c) => c.notNull())
        .addColumn("url", "text", (c) => c.notNull())
        .addColumn("status", "integer")
        .addColumn("error", "text")
        .addColumn("duration_ms", "integer", (c) => c.notNull())
        .addColumn("request_headers", "text", (c) => c.notNull())
        .addColumn("request_body", "text")
        .addColumn("response_headers", "text")
        .addColumn("response_body", "text")
        .addColumn("at", int64, (c) => c.notNull())
        .execute();
      await db.schema.createIndex("audit_log_run").on("audit_log").columns(["run_id"]).execute();
      await db.schema.createIndex("audit_log_connection").on("audit_log").columns(["connection_id", "at"]).execute();
      // Pruning deletes the oldest records first.
      await db.schema.createIndex("audit_log_at").on("audit_log").columns(["at"]).execute();

      await db.schema
        .createTable("oauth_pending")
        .addColumn("state", "text", (c) => c.primaryKey())
        .addColumn("connection_id", "text", (c) => c.notNull())
        .addColumn("sealed_verifier", "text", (c) => c.notNull())
        .addColumn("return_to", "text")
        .addColumn("expires_at", int64, (c) => c.notNull())
        .execute();
    },
  };
}
