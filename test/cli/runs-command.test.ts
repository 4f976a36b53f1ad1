import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { RunTransition } from "../../src/storage/contract.ts";
import { SqliteStorage } from "../../src/storage/sqlite/sqlite-storage.ts";
import { runTenonCli } from "../support/tenon-cli.ts";

const t0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const lease = "cli-test-lease";
// Longer than the table's column and on several lines, as a provider's error body often is.
const deadError = [
  "create invoice: the accounting API answered 400 after 5 attempts: ValidationFault: CustomerRef is required",
  '{"Fault":{"Error":[{"Message":"Required param missing","Detail":"CustomerRef","code":"2020"}]}}',
].join("\n");

describe("tenon runs (SQLite), for scripts", () => {
  let cwd: string;
  let sqlitePath: string;

  beforeEach(() => {
    cwd = mkdtempSync(join(tmpdir(), "tenon-runs-cli-"));
    sqlitePath = join(cwd, "tenon.db");
  });
  afterEach(() => {
    rmSync(cwd, { recursive: true, force: true });
  });

  /** Runs the real CLI in the project directory, with no TENON_* variable of ours. */
  function tenon(args: string[], env: Record<string, string> = { TENON_SQLITE_PATH: sqlitePath }) {
    return runTenonCli(cwd, args, env);
  }

  async function json(args: string[]): Promise<unknown> {
    const result = await tenon(args);
    expect(result.code, result.stderr).toBe(0);
    return JSON.parse(result.stdout);
  }

  /**
   * Three runs, oldest first: "dead-run" (order-sync) failed its step twice and is dead; "done-run" (crm-sync)
   * succeeded; "queued-run" (order-sync) waits for a worker.
   */
  async function seedRuns(): Promise<void> {
    const storage = new SqliteStorage({ path: sqlitePath });
    await storage.migrate();
    try {
      const accept = (runId: string, integrationId: string, receivedAt: number) =>
        storage.acceptEvents([
          {
            id: `event-of-${runId}`,
            source: "store",
            type: "order.created",
            dedupKey: null,
            payloadJson: "{}",
            receivedAt,
            runs: [{ id: runId, integrationId, concurrencyKey: null, concurrencyLimit: null }],
          },
        ]);
      const claimAndApply = async (now: number, transition: RunTransition) => {
        const [claimed] = await storage.claimDueRuns({ leaseToken: lease, limit: 1, now, leaseUntil: now + 60_000 });
        expect(claimed?.id).toBe(transition.runId);
        expect(await storage.applyTransitions([transition])).toEqual([true]);
      };

      await accept("dead-run", "order-sync", t0);
      await claimAndApply(t0, {
        kind: "retryRun",
        runId: "dead-run",
        leaseToken: lease,
        availableAt: t0 + 1000,
        error: "create invoice: 503",
        stepFailure: { name: "create invoice", error: "503" },
        attempt: 1,
        attemptStartedAt: t0,
        now: t0,
      });
      await claimAndApply(t0 + 1000, {
        kind: "finishRunWithError",
        runId: "dead-run",
        leaseToken: lease,
        status: "dead",
        error: deadError,
        stepFailure: { name: "create invoice", error: deadError },
        attempt: 2,
        attemptStartedAt: t0 + 1000,
        now: t0 + 1000,
      });
      await accept("done-run", "crm-sync", t0 + 2000);
      await claimAndApply(t0 + 2000, {
        kind: "completeRun",
        runId: "done-run",
        leaseToken: lease,
        outputJson: null,
        now: t0 + 2500,
      });
      await accept("queued-run", "order-sync", t0 + 3000);
    } finally {
      await storage.close();
    }
  }

  it("--json prints the listed runs as one JSON array, newest first, with last errors in full", async () => {
    await seedRuns();
    const runs = (await json(["runs", "--json"])) as Record<string, unknown>[];
    expect(runs.map((run) => run.id)).toEqual(["queued-run", "done-run", "dead-run"]);
    expect(runs[2]).toEqual({
      id: "dead-run",
      integrationId: "order-sync",
      eventId: "event-of-dead-run",
      status: "dead",
      failures: 2,
      lastError: deadError,
      concurrencyKey: null,
      waitingOn: null,
      createdAt: new Date(t0).toISOString(),
      startedAt: expect.any(String),
      finishedAt: new Date(t0 + 1000).toISOString(),
      availableAt: expect.any(String),
    });
    expect(runs[0]).toMatchObject({ status: "queued", lastError: null, startedAt: null, finishedAt: null });

    // The table, for people, shows it whole under its run, wrapped to 100 columns (stdout is not a terminal).
    const table = await tenon(["runs", "--status", "dead"]);
    const lines = table.stdout.trimEnd().split("\n");
    expect(lines[1]).toMatch(/^dead-run\s+order-sync\s+dead\s+2\s+/);
    expect(lines.slice(2).join("\n")).toBe(
      [
        "  last error: create invoice: the accounting API answered 400 after 5 attempts: ValidationFault:",
        "  CustomerRef is required",
        '  {"Fault":{"Error":[{"Message":"Required param missing","Detail":"CustomerRef","code":"2020"}]}}',
      ].join("\n"),
    );
    expect(lines.every((line) => line.length <= 100)).toBe(true);
  });

  it("--json applies --status, --integration and --limit as the table does", async () => {
    await seedRuns();
    const ids = async (args: string[]) =>
      ((await json(["runs", "--json", ...args])) as { id: string }[]).map((r) => r.id);
    expect(await ids(["--integration", "order-sync"])).toEqual(["queued-run", "dead-run"]);
    expect(await ids(["--status", "dead"])).toEqual(["dead-run"]);
    expect(await ids(["--limit", "1"])).toEqual(["queued-run"]);
    expect(await ids(["--status", "failed"])).toEqual([]);
  });

  it("--count counts the runs in each status; with --json every status is there, zeros included", async () => {
    await seedRuns();
    const table = await tenon(["runs", "--count"]);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout.trim().split("\n")).toEqual([
      expect.stringMatching(/^STATUS\s+RUNS$/),
      expect.stringMatching(/^queued\s+1$/),
      expect.stringMatching(/^succeeded\s+1$/),
      expect.stringMatching(/^dead\s+1$/),
      expect.stringMatching(/^total\s+3$/),
    ]);

    expect(await json(["runs", "--count", "--json"])).toEqual({
      queued: 1,
      blocked: 0,
      running: 0,
      retrying: 0,
      sleeping: 0,
      waiting: 0,
      paused: 0,
      succeeded: 1,
      failed: 0,
      dead: 1,
    });
    expect(await json(["runs", "--count", "--json", "--integration", "order-sync"])).toMatchObject({
      queued: 1,
      succeeded: 0,
      dead: 1,
    });
    expect(await json(["runs", "--count", "--json", "--status", "dead"])).toEqual({ dead: 1 });
    // --limit caps a list, not a count.
    expect(await json(["runs", "--count", "--json", "--limit", "1"])).toMatchObject({ queued: 1, dead: 1 });
  });

  it("an empty database gives an empty array and zero counts; a missing one fails with nothing on stdout", async () => {
    await (await openEmpty()).close();
    expect(await json(["runs", "--json"])).toEqual([]);
    expect(Object.values((await json(["runs", "--count", "--json"])) as Record<string, number>)).toEqual(
      Array(10).fill(0),
    );

    const missing = await tenon(["runs", "--json"], { TENON_SQLITE_PATH: join(cwd, "elsewhere.db") });
    expect(missing.code).toBe(1);
    expect(missing.stdout).toBe("");
    expect(missing.stderr).toContain("no database at");
  });

  async function openEmpty(): Promise<SqliteStorage> {
    const storage = new SqliteStorage({ path: sqlitePath });
    await storage.migrate();
    return storage;
  }
});
