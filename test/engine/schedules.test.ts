import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Engine } from "../../src/engine/engine.ts";
import { defineIntegration } from "../../src/sdk/define-integration.ts";
import type { Storage } from "../../src/storage/contract.ts";
import { backends, type TestDatabase } from "../support/backends.ts";
import { ManualClock } from "../support/clock.ts";
import { testEngine } from "../support/engine.ts";
import { waitFor } from "../support/wait.ts";

const minute = 60_000;

describe.each(backends)("cron schedules on $name", (backend) => {
  let db: TestDatabase;
  let storages: Storage[];

  beforeEach(() => {
    db = backend.create();
    storages = [];
  });
  afterEach(async () => {
    for (const s of storages) await s.close();
    await db.cleanup();
  });

  function worker(clock: ManualClock): Engine {
    const storage = db.open();
    storages.push(storage);
    return testEngine({
      storage,
      clock,
      integrations: [defineIntegration({ id: "every-minute", trigger: { cron: "* * * * *" }, run: () => "tick" })],
    });
  }

  // One process owns a SQLite file's worker; PostgreSQL takes any number.
  const workerCount = backend.name === "sqlite" ? 1 : 3;

  it(`with ${workerCount} worker(s), each tick fires exactly once; after downtime exactly one missed tick is caught up`, async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 1, 12, 0, 30));
    const workers = Array.from({ length: workerCount }, () => worker(clock));
    for (const w of workers) await w.start();
    const storage = storages[0] as Storage;
    try {
      for (let tick = 1; tick <= 5; tick++) {
        clock.advance(minute);
        const fired = await Promise.all(workers.map((w) => w.fireDueSchedules()));
        expect(fired.reduce((a, b) => a + b, 0)).toBe(1);
      }
      // Calling again within the same minute fires nothing.
      expect((await Promise.all(workers.map((w) => w.fireDueSchedules()))).reduce((a, b) => a + b, 0)).toBe(0);
      const ticks = await waitFor("5 scheduled runs to succeed", async () => {
        const runs = await storage.listRuns({ integrationId: "every-minute", status: "succeeded" });
        return runs.length === 5 ? runs : null;
      });
      expect(ticks.length).toBe(5);
      const scheduledAt = (await storage.listEvents()).map((e) => JSON.parse(e.payloadJson).scheduledAt).sort();
      expect(scheduledAt).toEqual([
        "2026-01-01T12:01:00.000Z",
        "2026-01-01T12:02:00.000Z",
        "2026-01-01T12:03:00.000Z",
        "2026-01-01T12:04:00.000Z",
        "2026-01-01T12:05:00.000Z",
      ]);
    } finally {
      for (const w of workers) await w.stop();
    }

    // Ten minutes of downtime, then one worker comes back: one catch-up tick (the latest), not ten.
    clock.advance(10 * minute);
    const back = worker(clock);
    await back.start();
    try {
      await waitFor("the catch-up tick", async () => (await storage.listEvents()).length === 6);
      const latest = (await storage.listEvents({ limit: 1 }))[0];
      expect(JSON.parse(latest?.payloadJson ?? "{}").scheduledAt).toBe("2026-01-01T12:15:00.000Z");
      expect(await back.fireDueSchedules()).toBe(0);
    } finally {
      await back.stop();
    }
  });
});
