import { randomBytes } from "node:crypto";
import { afterEach, expect, it } from "vitest";
import { defineIntegration } from "../../src/sdk/define-integration.ts";
import { spawnFixture, type WorkerProcess } from "../fixtures/spawn-worker.ts";
import { ApiTestServer } from "../support/api-server.ts";
import { postgresBackend, useTestStorage } from "../support/backends.ts";
import { testEngine, waitForRunStatus } from "../support/engine.ts";
import { maxInAnyWindow } from "../support/time-windows.ts";
import { waitFor } from "../support/wait.ts";

const t = useTestStorage(postgresBackend);
const workers: WorkerProcess[] = [];
let api: ApiTestServer | undefined;

afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.terminate()));
  await api?.close();
});

it("two worker processes on PostgreSQL share one 5/s limit: no 1 s window holds more than 5 requests", async () => {
  api = new ApiTestServer();
  await api.start();
  await t.storage.migrate();
  // Only the workers execute runs; this engine stores events and their runs, as a webhook server process does.
  const postsOrder = defineIntegration({ id: "posts-order", trigger: { event: "order" }, run: () => undefined });
  const sender = testEngine({ storage: t.storage, integrations: [postsOrder], worker: false });
  const env = {
    ...t.db.env,
    API_ORIGIN: api.origin,
    RATE_LIMIT: "5/s",
    TENON_MASTER_KEY: randomBytes(32).toString("base64"),
  };
  workers.push(spawnFixture("connection-worker-process.ts", env), spawnFixture("connection-worker-process.ts", env));
  await Promise.all(workers.map((w) => w.waitForLine("READY")));

  const total = 25;
  const runIds: string[] = [];
  for (let n = 0; n < total; n++) runIds.push(...(await sender.send({ type: "order", payload: { n } })).runIds);
  expect(runIds).toHaveLength(total);
  for (const runId of runIds) await waitForRunStatus(t.storage, runId, "succeeded", 30_000);
  await waitFor("every request", async () => (api?.requests.length === total ? true : null));

  const times = (api?.requests ?? []).map((r) => r.at);
  // Timer jitter can bring two requests a few ms closer than 200 ms, hence a tolerance of one request.
  expect(maxInAnyWindow(times, 1000)).toBeLessThanOrEqual(6);
  expect(maxInAnyWindow(times, 3000)).toBeLessThanOrEqual(16);
  const byWorker = new Set(api?.requests.map((r) => r.headers["x-worker"]));
  expect(byWorker.size).toBe(2);
});
