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

it("two worker processes on PostgreSQL share one 5/s limit: no 1 s window holds more than 5 reservations, and no request goes out before its own", async () => {
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
  // The times the shared bucket reserved for each worker's requests, by worker pid (its requests' x-worker).
  const reserved = new Map<string, number[]>();
  for (const worker of workers) {
    const times: number[] = [];
    reserved.set(String(worker.child.pid), times);
    worker.onLine((line) => {
      if (line.startsWith("RESERVED ")) times.push(Number(line.slice("RESERVED ".length)));
    });
  }
  await Promise.all(workers.map((w) => w.waitForLine("READY")));

  const total = 25;
  const runIds: string[] = [];
  for (let n = 0; n < total; n++) runIds.push(...(await sender.send({ type: "order", payload: { n } })).runIds);
  expect(runIds).toHaveLength(total);
  for (const runId of runIds) await waitForRunStatus(t.storage, runId, "succeeded", 30_000);
  await waitFor("every request", async () => (api?.requests.length === total ? true : null));

  // The limit is what the bucket grants: measured on the reservations, not on arrivals, which a loaded machine's
  // scheduling can bunch together after the limiter has let each request go at its time.
  const reservations = [...reserved.values()].flat();
  expect(reservations).toHaveLength(total);
  expect(maxInAnyWindow(reservations, 1000)).toBeLessThanOrEqual(5);
  // Each worker holds every request until its reservation: its k-th arrival comes no earlier than its k-th
  // reservation. 1 ms of slack: timers count whole ms on another clock than Date.now.
  const requests = api?.requests ?? [];
  for (const [pid, times] of reserved) {
    const arrivals = requests.filter((r) => r.headers["x-worker"] === pid).map((r) => r.at);
    expect(arrivals.length, `worker ${pid}`).toBe(times.length);
    expect(arrivals.length, `worker ${pid}`).toBeGreaterThan(0);
    const sortedReservations = [...times].sort((a, b) => a - b);
    arrivals.sort((a, b) => a - b);
    for (const [k, at] of arrivals.entries()) {
      expect(at, `worker ${pid}, request ${k + 1}`).toBeGreaterThanOrEqual((sortedReservations[k] as number) - 1);
    }
  }
});
