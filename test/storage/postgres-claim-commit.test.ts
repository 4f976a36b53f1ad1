import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PostgresStorage } from "../../src/storage/postgres/postgres-storage.ts";
import { claimDueRuns, claimRunsOnPostgres } from "../../src/storage/transitions/claim-runs.ts";
import { postgresBackend, postgresUrl, type TestDatabase } from "../support/backends.ts";

// PostgreSQL only: SQLite's claims share the durable transaction of the engine's writes (claim-runs.ts).
describe("a claim on PostgreSQL", () => {
  let db: TestDatabase;
  let storage: PostgresStorage;
  let pool: pg.Pool;

  beforeAll(async () => {
    db = postgresBackend.create();
    storage = db.open() as PostgresStorage;
    await storage.migrate();
    const schema = db.env.TENON_POSTGRES_SCHEMA;
    // One connection: what a claim leaves on it is what the next statement on it gets.
    pool = new pg.Pool({ connectionString: postgresUrl, options: `-c search_path=${schema}`, max: 1 });
  });
  afterAll(async () => {
    await pool.end();
    await storage.close();
    await db.cleanup();
  });

  async function enqueue(id: string): Promise<void> {
    await storage.acceptEvents([
      {
        id: `event-of-${id}`,
        source: "shop",
        type: "order.paid",
        dedupKey: null,
        payloadJson: "{}",
        receivedAt: 1_000,
        runs: [{ id, integrationId: "billing", concurrencyKey: null, concurrencyLimit: null }],
      },
    ]);
  }

  const setting = async (client: pg.Pool | pg.PoolClient) =>
    (await client.query<{ synchronous_commit: string }>("SHOW synchronous_commit")).rows[0]?.synchronous_commit;

  it("commits without waiting for its WAL flush, and leaves the connection's setting as it was", async () => {
    await enqueue("r1");
    await enqueue("r2");
    const claim = { now: 2_000, limit: 1, leaseToken: "lease-a", leaseUntil: 32_000, claimedBy: "test" };

    // Inside a transaction, to look before it commits: the claim turned synchronous_commit off for it alone.
    const client = await pool.connect();
    try {
      await client.query("BEGIN");
      const claimed = await client.query({
        text: claimDueRuns.postgres,
        values: [2_000, 1, "lease-a", 32_000, 1e9, "test"],
      });
      expect(claimed.rows.map((row: { id: string }) => row.id)).toEqual(["r1"]);
      expect(await setting(client)).toBe("off");
      await client.query("COMMIT");
      expect(await setting(client)).toBe("on");
    } finally {
      client.release();
    }

    // As the storage runs it, on its own: the run is claimed, the setting back to the server's.
    expect((await claimRunsOnPostgres(pool, "claimDueRuns", claim)).map((run) => run.id)).toEqual(["r2"]);
    expect(await setting(pool)).toBe("on");
  });
});
