import { join } from "node:path";
import type { Storage } from "./contract.ts";

export interface StorageOptions {
  /** A postgres:// URL selects PostgreSQL; absent means SQLite. */
  databaseUrl?: string | undefined;
  /** SQLite file. Default `.tenon/tenon.db` in the working directory. */
  sqlitePath?: string | undefined;
  sqliteSynchronous?: "FULL" | "NORMAL" | undefined;
  /** PostgreSQL schema. Default "tenon". */
  postgresSchema?: string | undefined;
  postgresMaxConnections?: number | undefined;
}

/**
 * Opens (but does not migrate) the backend the options select. Only that backend's code and driver are loaded,
 * so a process on SQLite does not spend ~40 ms of its start loading pg.
 */
export async function openStorage(options: StorageOptions = {}): Promise<Storage> {
  const url = options.databaseUrl;
  if (url) {
    if (!/^postgres(ql)?:\/\//.test(url)) {
      throw new Error("TENON_DATABASE_URL must be a postgres:// or postgresql:// URL; leave it unset to use SQLite");
    }
    const { PostgresStorage } = await import("./postgres/postgres-storage.ts");
    return new PostgresStorage({
      connectionString: url,
      ...(options.postgresSchema ? { schema: options.postgresSchema } : {}),
      ...(options.postgresMaxConnections ? { maxConnections: options.postgresMaxConnections } : {}),
    });
  }
  const { SqliteStorage } = await import("./sqlite/sqlite-storage.ts");
  return new SqliteStorage({
    path: options.sqlitePath ?? join(process.cwd(), ".tenon", "tenon.db"),
    ...(options.sqliteSynchronous ? { synchronous: options.sqliteSynchronous } : {}),
  });
}
