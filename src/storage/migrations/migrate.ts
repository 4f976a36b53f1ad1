import { type Kysely, type Migration, sql } from "kysely";
import { initialSchema } from "./001-initial-schema.ts";
import { ingestionSchema } from "./002-ingestion.ts";
import { connectionsSchema } from "./003-connections.ts";
import { crashAccountingSchema } from "./004-crash-accounting.ts";
import { circuitProbeIdsSchema } from "./005-circuit-probe-ids.ts";
import { refreshClaimsSchema } from "./006-refresh-claims.ts";

function migrationsFor(dialect: "sqlite" | "postgres"): [string, Migration][] {
  return [
    ["001-initial-schema", initialSchema(dialect)],
    ["002-ingestion", ingestionSchema(dialect)],
    ["003-connections", connectionsSchema(dialect)],
    ["004-crash-accounting", crashAccountingSchema()],
    ["005-circuit-probe-ids", circuitProbeIdsSchema()],
    ["006-refresh-claims", refreshClaimsSchema(dialect)],
  ];
}

/**
 * Applies pending migrations in one transaction, under a lock, so workers starting together are safe.
 *
 * Not Kysely's Migrator: it introspects every table of the whole database (all schemas) on each start, which
 * is slow in a shared database and failed in CI when another schema was dropped at the same moment. The
 * migrations themselves are written with Kysely's schema builder.
 */
export async function runMigrations(db: Kysely<unknown>, dialect: "sqlite" | "postgres"): Promise<void> {
  await db.connection().execute(async (connection) => {
    await sql`${sql.raw(dialect === "sqlite" ? "BEGIN IMMEDIATE" : "BEGIN")}`.execute(connection);
    try {
      // PostgreSQL: one migrator at a time per schema, released at commit. SQLite: BEGIN IMMEDIATE is the lock.
      if (dialect === "postgres")
        await sql`SELECT pg_advisory_xact_lock(hashtext('tenon_migrations:' || current_schema()))`.execute(connection);
      await sql`CREATE TABLE IF NOT EXISTS migrations (name text PRIMARY KEY, applied_at bigint NOT NULL)`.execute(
        connection,
      );
      const applied = await sql<{ name: string }>`SELECT name FROM migrations`.execute(connection);
      const done = new Set(applied.rows.map((r) => r.name));
      for (const [name, migration] of migrationsFor(dialect)) {
        if (done.has(name)) continue;
        try {
          await migration.up(connection);
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
