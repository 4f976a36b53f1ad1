import { type Kysely, type Migration, type MigrationProvider, Migrator } from "kysely";
import { initialSchema } from "./001-initial-schema.ts";

function migrationsFor(dialect: "sqlite" | "postgres"): Record<string, Migration> {
  return { "001-initial-schema": initialSchema(dialect) };
}

/** Applies pending migrations. Kysely's migrator takes a lock, so workers starting together are safe. */
export async function runMigrations(
  db: Kysely<unknown>,
  dialect: "sqlite" | "postgres",
  schema?: string,
): Promise<void> {
  const provider: MigrationProvider = { getMigrations: async () => migrationsFor(dialect) };
  const migrator = new Migrator({ db, provider, ...(schema ? { migrationTableSchema: schema } : {}) });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === "Error")?.migrationName ?? "unknown";
    throw new Error(
      `database migration "${failed}" failed: ${error instanceof Error ? error.message : String(error)}`,
      {
        cause: error,
      },
    );
  }
}
