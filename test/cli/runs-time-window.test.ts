import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Storage } from "../../src/storage/contract.ts";
import { type Backend, backends, type TestDatabase, useTestStorage } from "../support/backends.ts";
import { runTenonCli } from "../support/tenon-cli.ts";

const minute = 60_000;

describe.each(backends)("tenon runs --since/--until ($name)", (backend: Backend) => {
  const testStorage = useTestStorage(backend);
  let db: TestDatabase;
  let storage: Storage;
  let cwd: string;
  let now: number;

  beforeEach(async () => {
    cwd = mkdtempSync(join(tmpdir(), "tenon-runs-window-"));
    ({ db, storage } = testStorage);
    await storage.migrate();
    now = Date.now();
    // Created 3 h, 90 min and 10 min ago.
    for (const [runId, age] of [
      ["old-run", 180 * minute],
      ["middle-run", 90 * minute],
      ["recent-run", 10 * minute],
    ] as const) {
      await storage.acceptEvents([
        {
          id: `event-of-${runId}`,
          source: "store",
          type: "order.created",
          dedupKey: null,
          payloadJson: "{}",
          receivedAt: now - age,
          runs: [{ id: runId, integrationId: "order-sync", concurrencyKey: null, concurrencyLimit: null }],
        },
      ]);
    }
  });

  afterEach(async () => {
    rmSync(cwd, { recursive: true, force: true });
  });

  async function ids(args: string[]): Promise<string[]> {
    const result = await runTenonCli(cwd, ["runs", "--json", ...args], db.env);
    expect(result.code, result.stderr).toBe(0);
    return (JSON.parse(result.stdout) as { id: string }[]).map((run) => run.id);
  }

  it("--since keeps the runs created this recently, --until those created before, both a window", async () => {
    expect(await ids(["--since", "2h"])).toEqual(["recent-run", "middle-run"]);
    expect(await ids(["--until", "1h"])).toEqual(["middle-run", "old-run"]);
    expect(await ids(["--since", "2h", "--until", "1h"])).toEqual(["middle-run"]);
    const isoBetween = new Date(now - 120 * minute).toISOString();
    expect(await ids(["--until", isoBetween])).toEqual(["old-run"]);
  });

  it("--until refuses what is neither a duration nor an ISO time", async () => {
    const result = await runTenonCli(cwd, ["runs", "--until", "yesterday"], db.env);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("must be a duration back from now (30m, 2h) or an ISO time");
  });
});
