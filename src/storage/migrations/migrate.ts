import { type Kysely, type Migration, sql } from "kysely";
import { initialSchema } from "./001-initial-schema.ts";
import { ingestionSchema } from "./002-ingestion.ts";
import { connectionsSchema } from "./003-connections.ts";
import { crashAccountingSchema } from "./004-crash-accounting.ts";
import { circuitProbeIdsSchema } from "./005-circuit-probe-ids.ts";
import { refreshClaimsSchema } from "./006-refresh-claims.ts";
import { runHistorySchema } from "./007-run-history.ts";
import { eventTraceContextSchema } from "./008-event-trace-context.ts";
import { readApiSchema } from "./009-read-api.ts";
import { entityTagsSchema } from "./010-entity-tags.ts";
import { operatorAccessSchema } from "./011-operator-access.ts";
import { retentionSchema } from "./012-retention.ts";
import { leanRunIndexesSchema } from "./013-lean-run-indexes.ts";
import { alertsSchema } from "./014-alerts.ts";
import { driftSchema } from "./015-drift.ts";
import { operationalWebhooksSchema } from "./016-operational-webhooks.ts";
import { dashboardSessionsSchema } from "./017-dashboard-sessions.ts";
import { reconciliationSchema } from "./018-reconciliation.ts";
import { bulkActionsSchema } from "./019-bulk-actions.ts";
import { connectionHistorySchema } from "./020-connection-history.ts";
import { reconciliationPassesSchema } from "./021-reconciliation-passes.ts";

const migrations: [string, (dialect: "sqlite" | "postgres") => Migration][] = [
  ["001-initial-schema", initialSchema],
  ["002-ingestion", ingestionSchema],
  ["003-connections", connectionsSchema],
  ["004-crash-accounting", crashAccountingSchema],
  ["005-circuit-probe-ids", circuitProbeIdsSchema],
  ["006-refresh-claims", refreshClaimsSchema],
  ["007-run-history", runHistorySchema],
  ["008-event-trace-context", eventTraceContextSchema],
  ["009-read-api", readApiSchema],
  ["010-entity-tags", entityTagsSchema],
  ["011-operator-access", operatorAccessSchema],
  ["012-retention", retentionSchema],
  ["013-lean-run-indexes", leanRunIndexesSchema],
  ["014-alerts", alertsSchema],
  ["015-drift", driftSchema],
  ["016-operational-webhooks", operationalWebhooksSchema],
  ["017-dashboard-sessions", dashboardSessionsSchema],
  ["018-reconciliation", reconciliationSchema],
  ["019-bulk-actions", bulkActionsSchema],
  ["020-connection-history", connectionHistorySchema],
  ["021-reconciliation-passes", reconciliationPassesSchema],
];

/** The last migration: a database that records it as applied has the whole schema (readiness checks look for it). */
export const newestMigration = migrations[migrations.length - 1]?.[0] as string;

/**
 * Applies pending migrations in one transaction, under a lock, so workers starting together are safe.
 * A database that is already up to date costs one query: no lock, no transaction, so a restarting
 * worker neither waits for nor blocks the others.
 *
 * Not Kysely's Migrator: it introspects every table of the whole database (all schemas) on each start, which
 * is slow in a shared database and failed in CI when another schema was dropped at the same moment. The
 * migrations themselves are written with Kysely's schema builder.
 */
export async function runMigrations(db: Kysely<unknown>, dialect: "sqlite" | "postgres"): Promise<void> {
  if (await isUpToDate(db)) return;
  await db.connection().execute(async (connection) => {
    await sql`${sql.raw(dialect === "sqlite" ? "BEGIN IMMEDIATE" : "BEGIN")}`.execute(connection);
    try {
      // PostgreSQL: one migrator at a time per schema, released at commit. SQLite: BEGIN IMMEDIATE is the lock.
      if (dialect === "postgres")
        await sql`SELECT pg_advisory_xact_lock(hashtext('tenon_migrations:' || current_schema()))`.execute(connection);
      await sql`CREATE TABLE IF NOT EXISTS migrations (name text PRIMARY KEY, applied_at bigint NOT NULL)`.execute(
        connection,
      );
      // Read again under the lock: another worker may have migrated while this one waited.
      const done = await appliedMigrations(connection);
      for (const [name, migration] of migrations) {
        if (done.has(name)) continue;
        try {
          await migration(dialect).up(connection);
        } catch (error) {
          throw new Error(`database migration "${name}" failed: ${(error as Error).message}`, { cause: error });
        }
        await sql`INSERT INTO migrations (name, applied_at) VALUES (${name}, ${Date.now()})`.execute(connection);
      }
      await sql`COMMIT`.execute(connection);
    } catch (error) {
      await sql`ROLLBACK`.execute(connection).catch(() => {});
      throw error;
    }
  });
}

/**
 * Whether every migration is recorded as applied. Only committed rows are seen, and a migration's row commits
 * with its tables, so "yes" is safe to act on without the lock. A missing table (a new database or schema)
 * or any other failure means "no": the locked path then creates it, or reports what is wrong.
 */
export async function isUpToDate(db: Kysely<unknown>): Promise<boolean> {
  try {
    const done = await appliedMigrations(db);
    return migrations.every(([name]) => done.has(name));
  } catch {
    return false;
  }
}

async function appliedMigrations(db: Kysely<unknown>): Promise<Set<string>> {
  const applied = await sql<{ name: string }>`SELECT name FROM migrations`.execute(db);
  return new Set(applied.rows.map((row) => row.name));
}
