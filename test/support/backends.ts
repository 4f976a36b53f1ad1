import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach } from "vitest";
import type { Storage } from "../../src/storage/contract.ts";
import { PostgresStorage } from "../../src/storage/postgres/postgres-storage.ts";
import { SqliteStorage } from "../../src/storage/sqlite/sqlite-storage.ts";

export const postgresUrl = process.env.TENON_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

/** A place to store things for one test: a fresh SQLite file, or a fresh PostgreSQL schema. */
export interface TestDatabase {
  /** Opens another connection to the same database (another "worker"). */
  open(): Storage;
  /** Environment for a child process to reach the same database. */
  env: Record<string, string>;
  cleanup(): Promise<void>;
}

export interface Backend {
  name: "sqlite" | "postgres";
  create(): TestDatabase;
}

export const sqliteBackend: Backend = {
  name: "sqlite",
  create() {
    const dir = mkdtempSync(join(tmpdir(), "tenon-test-"));
    const path = join(dir, "tenon.db");
    return {
      open: () => new SqliteStorage({ path }),
      env: { TENON_SQLITE_PATH: path },
      async cleanup() {
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};

export const postgresBackend: Backend = {
  name: "postgres",
  create() {
    const schema = `test_${randomUUID().replaceAll("-", "").slice(0, 16)}`;
    return {
      open: () => new PostgresStorage({ connectionString: postgresUrl, schema }),
      env: { TENON_DATABASE_URL: postgresUrl, TENON_POSTGRES_SCHEMA: schema },
      async cleanup() {
        const admin = new PostgresStorage({ connectionString: postgresUrl, schema });
        await admin.dropSchema();
        await admin.close();
      },
    };
  },
};

/** The same suite runs on both: `describe.each(backends)`. */
export const backends: Backend[] = [sqliteBackend, postgresBackend];

/** Registers hooks that give each test a fresh database and one storage on it (closed and dropped afterwards). */
export function useTestStorage(backend: Backend): { readonly db: TestDatabase; readonly storage: Storage } {
  let db: TestDatabase | undefined;
  let storage: Storage | undefined;
  beforeEach(() => {
    db = backend.create();
    storage = db.open();
  });
  afterEach(async () => {
    await storage?.close();
    await db?.cleanup();
  });
  return {
    get db() {
      if (!db) throw new Error("useTestStorage: the database exists only inside a test");
      return db;
    },
    get storage() {
      if (!storage) throw new Error("useTestStorage: the storage exists only inside a test");
      return storage;
    },
  };
}
