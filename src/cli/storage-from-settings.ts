import { existsSync } from "node:fs";
import type { Settings } from "../config/settings.ts";
import { ConfigurationError } from "../sdk/errors.ts";
import type { Storage } from "../storage/contract.ts";
import { openStorage } from "../storage/open-storage.ts";

/** Opens (without migrating) the database the settings select. */
export function openStorageFromSettings(settings: Settings): Promise<Storage> {
  return openStorage({
    databaseUrl: settings.databaseUrl,
    postgresSchema: settings.postgresSchema,
    sqlitePath: settings.sqlitePath,
    sqliteSynchronous: settings.sqliteSynchronous,
  });
}

/**
 * For commands that only read or replay: opening SQLite creates the file, and a
 * fresh empty database in the wrong directory would hide the real mistake.
 */
export async function openExistingStorage(settings: Settings): Promise<Storage> {
  if (!settings.databaseUrl && !existsSync(settings.sqlitePath)) {
    throw new ConfigurationError(
      `no database at ${settings.sqlitePath}; run \`tenon start\` (or \`tenon migrate\`) here first, or set TENON_SQLITE_PATH / TENON_DATABASE_URL`,
    );
  }
  return openStorageFromSettings(settings);
}

/**
 * Runs `use` with the settings' database, migrated first (a no-op when up to date; it creates the tables on a
 * database Tenon has not started on yet), and closes it after.
 */
export async function withMigratedStorage(use: (storage: Storage) => Promise<void>, settings: Settings): Promise<void> {
  const storage = await openStorageFromSettings(settings);
  try {
    await storage.migrate();
    await use(storage);
  } finally {
    await storage.close();
  }
}
