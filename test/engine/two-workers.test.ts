import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { defineIntegration } from "../../src/sdk/define-integration.ts";
import type { Storage } from "../../src/storage/contract.ts";
import { spawnWorker, type WorkerProcess } from "../fixtures/spawn-worker.ts";
import { postgresBackend, type TestDatabase } from "../support/backends.ts";
import { testEngine } from "../support/engine.ts";
import { waitFor } from "../support/wait.ts";

const total = 5000;

describe("two worker processes on one PostgreSQL database", () => {
  let db: TestDatabase;
  let storage: Storage;
  let dir: string;
  let workers: WorkerProcess[];

  beforeEach(async () => {
    db = postgresBackend.create();
    storage = db.open();
    await storage.migrate();
    dir = mkdtempSync(join(tmpdir(), "tenon-drain-"));
    workers = [];
  });
  afterEach(async () => {
    for (const w of workers) await w.kill9();
    await storage.close();
    await db.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it(`drain ${total} runs while they are being enqueued: each run's effect executes exactly once`, async () => {
    const log = join(dir, "executions.log");
    for (let i = 0; i < 2; i++) workers.push(spawnWorker({ ...db.env, EXECUTION_LOG: log }));
    await Promise.all(workers.map((w) => w.waitForLine("READY")));

    // A producer-only engine (no worker) that knows the integration, so events get their runs.
    const producer = testEngine({
      storage,
      worker: false,
      integrations: [defineIntegration({ id: "counted", trigger: { event: "drain.test" }, run: () => {} })],
    });
    const sent: string[] = [];
    for (let chunk = 0; chunk < total / 500; chunk++) {
      const results = await Promise.all(
        Array.from({ length: 500 }, (_, i) => producer.send({ type: "drain.test", payload: { chunk, i } })),
      );
      for (const result of results) sent.push(...result.runIds);
    }
    await producer.stop();
    expect(sent).toHaveLength(total);

    await waitFor(
      `all ${total} runs to succeed`,
      async () => {
        for (const w of workers) {
          const exited = w.exitInfo();
          if (exited) throw new Error(`a worker process died: ${exited}`);
        }
        const counts = await storage.countRunsByStatus();
        return counts.succeeded === total;
      },
      90_000,
    );
    await Promise.all(workers.map((w) => w.terminate()));

    const effects = readFileSync(log, "utf8").trim().split("\n");
    const perRun = new Map<string, number>();
    const perProcess = new Map<string, number>();
    for (const line of effects) {
      const [, runId, pid] = line.split(" ");
      perRun.set(runId as string, (perRun.get(runId as string) ?? 0) + 1);
      perProcess.set(pid as string, (perProcess.get(pid as string) ?? 0) + 1);
    }
    expect(effects).toHaveLength(total);
    expect(new Set(perRun.keys())).toEqual(new Set(sent));
    expect([...perRun.values()].every((n) => n === 1)).toBe(true);
    // Both processes did real work (SKIP LOCKED shares the queue rather than serialising it).
    expect(perProcess.size).toBe(2);
    for (const count of perProcess.values()) expect(count).toBeGreaterThan(total / 10);
  });
});
