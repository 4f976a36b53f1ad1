import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { describeDatabase, readSettings } from "../../config/settings.ts";
import { ConfigurationError } from "../../sdk/errors.ts";
import { openExistingStorage } from "../storage-from-settings.ts";

export interface BackupOptions {
  force?: boolean;
}

/** `tenon backup <file>`: a consistent copy of the SQLite database, taken while `tenon start` keeps running. */
export async function backupCommand(file: string, options: BackupOptions): Promise<void> {
  const settings = readSettings();
  if (settings.databaseUrl) {
    throw new ConfigurationError(
      `tenon backup copies a SQLite file, and this database is PostgreSQL (${describeDatabase(settings)}); ` +
        "back it up with pg_dump instead (see docs/deployment.md)",
    );
  }
  const target = resolve(file);
  if (target === resolve(settings.sqlitePath)) {
    throw new ConfigurationError(`${file} is the live database itself; write the backup to another file`);
  }
  if (existsSync(target) && !options.force) {
    throw new ConfigurationError(`${file} already exists; choose another file, or pass --force to replace it`);
  }
  const storage = await openExistingStorage(settings);
  try {
    const summary = await storage.backupTo(target);
    console.log(
      `wrote ${target}: ${formatBytes(summary.bytes)}, ${summary.events} event(s), ${summary.runs} run(s), ` +
        `a consistent copy of ${describeDatabase(settings)}`,
    );
    // A WAL left by a process that did not stop cleanly would be replayed onto the restored file.
    const live = resolve(settings.sqlitePath);
    console.log(`To restore: stop tenon, delete ${live}-wal and ${live}-shm if present, copy the file to ${live}.`);
  } finally {
    await storage.close();
  }
}

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
