import { describeDatabase, readSettings } from "../../config/settings.ts";
import { openStorageFromSettings } from "../storage-from-settings.ts";

/** `tenon migrate`: brings the schema up to date, for deployments that migrate before starting workers. */
export async function migrateCommand(): Promise<void> {
  const settings = readSettings();
  const storage = await openStorageFromSettings(settings);
  try {
    await storage.migrate();
  } finally {
    await storage.close();
  }
  console.log(`database is up to date: ${describeDatabase(settings)}`);
}
