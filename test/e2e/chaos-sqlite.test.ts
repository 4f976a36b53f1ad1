import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { SqliteStorage } from "../../src/storage/sqlite/sqlite-storage.ts";
import { runChaosScenario } from "./chaos-scenario.ts";

// Runs after the rest of the suite (vitest.config.ts), beside the other end-to-end scenarios only.
describe("chaos: kill -9 and stalls past the lease, 25% 5xx and 10% 429 downstream", () => {
  it(
    "SQLite, one worker killed every 2–5 s and stalled now and then: 300 orders, every run succeeds, every effect exactly once",
    async () => {
      const dir = mkdtempSync(join(tmpdir(), "tenon-chaos-"));
      const path = join(dir, "tenon.db");
      try {
        const report = await runChaosScenario({
          workers: 1,
          orders: 300,
          leaseMs: 2000,
          databaseEnv: { TENON_SQLITE_PATH: path },
          openStorage: () => new SqliteStorage({ path }),
          killEveryMs: [2000, 5000],
          stallEveryMs: [8000, 12000],
        });
        console.log(`chaos on SQLite: ${JSON.stringify(report)}`);
        expect(report.kills).toBeGreaterThan(10);
        expect(report.stalls).toBeGreaterThan(2);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    15 * 60_000,
  );
});
