import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Storage } from "../../src/storage/contract.ts";
import { spawnFixture, type WorkerProcess } from "../fixtures/spawn-worker.ts";
import { backends, type TestDatabase } from "../support/backends.ts";
import { waitFor } from "../support/wait.ts";

describe.each(backends)("a reconciliation killed mid-listing on $name", (backend) => {
  let db: TestDatabase;
  let storage: Storage;
  let dir: string;
  const workers: WorkerProcess[] = [];

  beforeEach(async () => {
    db = backend.create();
    storage = db.open();
    await storage.migrate();
    dir = mkdtempSync(join(tmpdir(), "tenon-reconcile-crash-"));
  });
  afterEach(async () => {
    for (const worker of workers.splice(0)) await worker.kill9();
    await storage.close();
    await db.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it("resumes in another process at the page after the last one stored, and reports exactly what differs", async () => {
    const log = join(dir, "executions.log");
    // On PostgreSQL the next process takes over once the dead one's lease expires; on SQLite at once.
    const env = { ...db.env, EXECUTION_LOG: log, LEASE_MS: "600" };
    const first = spawnFixture("reconcile-worker-process.ts", { ...env, SEND_RUN: "1" });
    workers.push(first);
    const runId = (await first.waitForLine("SENT ")).slice(5);
    await first.waitForLine(`IN_FLIGHT ${runId}`);
    await first.kill9();

    const second = spawnFixture("reconcile-worker-process.ts", env);
    workers.push(second);
    await waitFor("the run to succeed", async () => (await storage.getRun(runId))?.status === "succeeded", 60_000);
    const listed = readFileSync(log, "utf8")
      .trim()
      .split("\n")
      .map((line) => line.split(" "));
    const pid = (line: string[] | undefined) => line?.[3];
    // Pages 1–3 listed once, by the first process; the fourth by both (the first died in it); the rest by the second.
    expect(listed.map(([, side, cursor]) => `${side} ${cursor}`)).toEqual([
      "left 0",
      "left 10",
      "left 20",
      "left 30",
      "left 30",
      "left 40",
      "right 0",
      "right 10",
      "right 20",
      "right 30",
      "right 40",
    ]);
    expect(new Set(listed.slice(0, 4).map(pid))).toEqual(new Set([String(first.child.pid)]));
    expect(new Set(listed.slice(4).map(pid))).toEqual(new Set([String(second.child.pid)]));
    const report = await storage.reconcile.getReport("orders-vs-invoices", "latest");
    expect(report?.counts).toMatchObject({ leftRecords: 50, rightRecords: 48, matched: 48, missingRight: 2 });
    const findings = await storage.reconcile.listReportFindings(runId, { limit: 10 });
    expect(findings.map((f) => f.key)).toEqual(["42", "7"]);
  });
});
