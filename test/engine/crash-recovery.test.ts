import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { defineIntegration } from "../../src/sdk/define-integration.ts";
import type { Storage } from "../../src/storage/contract.ts";
import { spawnWorker, type WorkerProcess } from "../fixtures/spawn-worker.ts";
import { backends, type TestDatabase } from "../support/backends.ts";
import { testEngine } from "../support/engine.ts";
import { waitFor } from "../support/wait.ts";

const crashes = 20;

describe.each(backends)("crash recovery on $name", (backend) => {
  let db: TestDatabase;
  let storage: Storage;
  let dir: string;
  let workers: WorkerProcess[];

  beforeEach(async () => {
    db = backend.create();
    storage = db.open();
    await storage.migrate();
    dir = mkdtempSync(join(tmpdir(), "tenon-crash-"));
    workers = [];
  });
  afterEach(async () => {
    for (const w of workers) await w.kill9();
    await storage.close();
    await db.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it(`kill -9 while step 2 is in flight, ${crashes} times: every run completes, step 1 never runs twice, step 2 re-runs with the same idempotency key`, async () => {
    const log = join(dir, "executions.log");
    // On PostgreSQL a new process takes over only after the dead worker's lease expires; on SQLite the restarted owner recovers at once.
    const env = { ...db.env, EXECUTION_LOG: log, LEASE_MS: "600" };
    const runIds: string[] = [];
    for (let iteration = 1; iteration <= crashes; iteration++) {
      const worker = spawnWorker({ ...env, SEND_ITERATION: String(iteration) });
      workers.push(worker);
      const runId = (await worker.waitForLine("SENT ")).slice(5);
      runIds.push(runId);
      await worker.waitForLine(`IN_FLIGHT ${runId}`);
      const previous = runIds.at(-2);
      if (previous)
        await waitFor(
          `run ${previous} to be recovered`,
          async () => (await storage.getRun(previous))?.status === "succeeded",
        );
      await worker.kill9();
    }
    const last = spawnWorker(env);
    workers.push(last);
    await waitFor(
      "every run to succeed",
      async () => (await storage.listRuns({ status: "succeeded" })).length === crashes,
      30_000,
    );

    const lines = readFileSync(log, "utf8").trim().split("\n");
    for (const runId of runIds) {
      const of = (step: string) => lines.filter((l) => l.startsWith(`${step} ${runId} `));
      expect(of("one"), `step one of ${runId}`).toHaveLength(1);
      expect(of("two"), `step two of ${runId}`).toHaveLength(2);
      expect(of("three"), `step three of ${runId}`).toHaveLength(1);
      expect(new Set(of("two").map((l) => l.split(" ")[2]))).toEqual(new Set([`${runId}:two`]));
      const run = await storage.getRun(runId);
      // A crash is an interruption, not a failed attempt; and this run had completed step one before it.
      expect(run?.failures).toBe(0);
      expect(run?.crashes).toBe(0);
    }
    expect(await storage.listEvents()).toHaveLength(crashes);
  });

  it(`a run that advances between ${crashes} crashes of its process succeeds; a run that kills its process every time becomes a suspect after maxCrashes (5), runs alone, and ends dead when it kills it 5 times more`, async () => {
    const log = join(dir, "executions.log");
    const env = { ...db.env, EXECUTION_LOG: log, LEASE_MS: "600", LONG_HAUL_STEPS: String(crashes + 1) };
    const producer = testEngine({
      storage,
      worker: false,
      integrations: [
        defineIntegration({ id: "long-haul", trigger: { event: "long-haul.test" }, run: () => {} }),
        defineIntegration({ id: "poison", trigger: { event: "poison.test" }, run: () => {} }),
      ],
    });
    const [longHaul] = (await producer.send({ type: "long-haul.test", payload: {} })).runIds;
    const [poison] = (await producer.send({ type: "poison.test", payload: {} })).runIds;

    for (let crash = 1; crash <= crashes; ) {
      const worker = spawnWorker(env);
      workers.push(worker);
      // Each life of the process: long-haul finishes the step it was in and hangs in the next one; or a
      // suspect poison run, run alone before long-haul is back (PostgreSQL waits for its lease), kills it first.
      const outcome = await Promise.race([
        worker.waitForLine(`IN_FLIGHT ${longHaul} step-${crash}`, 60_000).then(() => "in flight" as const),
        waitFor("the process to exit", () => worker.exitInfo(), 60_000).then(() => "exited" as const),
      ]);
      if (outcome === "exited") continue;
      // Until it is a suspect, the poison run kills the process by itself; a suspect waits to run alone.
      if (((await storage.getRun(poison as string))?.crashes ?? 0) < 5) {
        await waitFor("the poison run to kill its worker", () => worker.exitInfo());
      }
      await worker.kill9();
      crash += 1;
    }
    // Later lives finish long-haul and run the suspect alone: it kills its process 5 times more, and ends dead.
    await waitFor(
      "long-haul to succeed and the poison run to end dead",
      async () => {
        const current = workers.at(-1);
        if (current?.exitInfo()) workers.push(spawnWorker(env));
        const [a, b] = [await storage.getRun(longHaul as string), await storage.getRun(poison as string)];
        return a?.status === "succeeded" && b?.status === "dead";
      },
      90_000,
      100,
    );
    expect(await storage.getRun(longHaul as string)).toMatchObject({ failures: 0, crashes: 0 });
    const dead = await storage.getRun(poison as string);
    expect(dead?.crashes).toBe(10);
    expect(dead?.lastError).toMatch(
      /^poison run: .* 10 times in a row without it completing a step, the last 5 while it ran alone/,
    );
    const kills = readFileSync(log, "utf8")
      .split("\n")
      .filter((line) => line.startsWith(`kills-its-worker ${poison} `));
    expect(kills).toHaveLength(10);
  });
});
