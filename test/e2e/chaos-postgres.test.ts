import pg from "pg";
import { describe, expect, it } from "vitest";
import { PostgresStorage } from "../../src/storage/postgres/postgres-storage.ts";
import { postgresUrl } from "../support/backends.ts";
import { runChaosScenario } from "./chaos-scenario.ts";

// Runs after the rest of the suite (vitest.config.ts), beside the other end-to-end scenarios only.
describe("chaos: kill -9 and stalls past the lease, 25% 5xx and 10% 429 downstream", () => {
  it(
    "PostgreSQL, three workers, one killed every 2–4 s and one stalled past its lease every 5–8 s: 300 orders, every run succeeds, every effect exactly once, no deadlock",
    async () => {
      // A database of its own, so that PostgreSQL's deadlock counter counts this test's transactions only.
      const database = `tenon_chaos_${process.pid}_${Date.now()}`;
      const admin = new pg.Client({ connectionString: postgresUrl });
      await admin.connect();
      await admin.query(`CREATE DATABASE ${database}`);
      const url = new URL(postgresUrl);
      url.pathname = `/${database}`;
      const deadlocks = async () =>
        Number(
          (await admin.query("SELECT deadlocks FROM pg_stat_database WHERE datname = $1", [database])).rows[0]
            ?.deadlocks,
        );
      try {
        const before = await deadlocks();
        const report = await runChaosScenario({
          workers: 3,
          orders: 300,
          leaseMs: 2000,
          databaseEnv: { TENON_DATABASE_URL: url.toString() },
          openStorage: () => new PostgresStorage({ connectionString: url.toString() }),
          killEveryMs: [2000, 4000],
          stallEveryMs: [5000, 8000],
        });
        // The statistics collector reports with a short delay.
        await new Promise((resolve) => setTimeout(resolve, 1000));
        const deadlocksDuring = (await deadlocks()) - before;
        console.log(`chaos on PostgreSQL: ${JSON.stringify({ ...report, deadlocksDuring })}`);
        expect(deadlocksDuring).toBe(0);
        expect(report.kills).toBeGreaterThan(5);
        expect(report.stalls).toBeGreaterThan(3);
      } finally {
        await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
        await admin.end();
      }
    },
    15 * 60_000,
  );
});
