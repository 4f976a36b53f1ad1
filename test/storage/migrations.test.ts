import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import type { Storage } from "../../src/storage/contract.ts";
import { postgresBackend, postgresUrl, type TestDatabase } from "../support/backends.ts";

describe("migrations on PostgreSQL", () => {
  let db: TestDatabase | undefined;
  const opened: Storage[] = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((storage) => storage.close()));
    await db?.cleanup();
    db = undefined;
  });

  function openWorker(database: TestDatabase): Storage {
    const storage = database.open();
    opened.push(storage);
    return storage;
  }

  it("workers migrating a new schema at the same moment all start, and each migration is applied once", async () => {
    db = postgresBackend.create();
    const database = db;
    const workers = Array.from({ length: 4 }, () => openWorker(database));
    await Promise.all(workers.map((worker) => worker.migrate()));

    const counts = await query<{ name: string; count: number }>(
      database,
      "SELECT name, count(*)::int AS count FROM migrations GROUP BY name ORDER BY name",
    );
    expect(counts.length).toBeGreaterThan(0);
    expect(counts.every((row) => row.count === 1)).toBe(true);
    for (const worker of workers) expect(await worker.listRuns()).toEqual([]);
  });

  it("a worker restarting on an up-to-date schema does not wait for a migration in progress elsewhere", async () => {
    db = postgresBackend.create();
    await openWorker(db).migrate();
    const schema = db.env.TENON_POSTGRES_SCHEMA as string;

    // Another session holds the lock migrators take, as a worker of a newer version would while it migrates.
    const holder = new pg.Client({ connectionString: postgresUrl });
    await holder.connect();
    await holder.query("SELECT pg_advisory_lock(hashtext($1))", [`tenon_migrations:${schema}`]);
    const holderPid = (await holder.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]?.pid;
    let watching = true;
    // Answers at once, not at the test's timeout, if the restart queues behind the lock.
    const blocked = (async () => {
      while (watching) {
        const waiting = await holder.query("SELECT pid FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))", [
          holderPid,
        ]);
        if (waiting.rows.length > 0) return "waited for the migration lock";
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      return "stopped watching";
    })();
    try {
      const migrated = openWorker(db)
        .migrate()
        .then(() => "migrated");
      expect(await Promise.race([migrated, blocked])).toBe("migrated");
    } finally {
      watching = false;
      await blocked;
      await holder.end();
    }
  });
});

async function query<Row extends pg.QueryResultRow>(database: TestDatabase, text: string): Promise<Row[]> {
  const client = new pg.Client({
    connectionString: postgresUrl,
    options: `-c search_path=${database.env.TENON_POSTGRES_SCHEMA}`,
  });
  await client.connect();
  try {
    return (await client.query<Row>(text)).rows;
  } finally {
    await client.end();
  }
}
