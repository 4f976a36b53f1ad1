import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ConnectionConfig } from "../../src/connections/connection-config.ts";
import type { Engine } from "../../src/engine/engine.ts";
import { defineIntegration } from "../../src/sdk/define-integration.ts";
import { ApiTestServer } from "../support/api-server.ts";
import { backends, useTestStorage } from "../support/backends.ts";
import { testConnections } from "../support/connections.ts";
import { testEngine, waitForRunStatus } from "../support/engine.ts";
import { maxInAnyWindow } from "../support/time-windows.ts";
import { waitFor } from "../support/wait.ts";

const postsOrder = defineIntegration<{ n: number }>({
  id: "posts-order",
  trigger: { event: "order" },
  retries: { maxAttempts: 3, initialDelay: 20, maxDelay: 50 },
  run: ({ event, step, connection }) =>
    step.run("post", async () => (await connection("api").post("/orders", { json: event.payload })).status),
});

describe.each(backends)("rate limits and the circuit breaker ($name)", (backend) => {
  const t = useTestStorage(backend);
  let api: ApiTestServer;
  let engine: Engine | undefined;

  beforeEach(async () => {
    api = new ApiTestServer();
    await api.start();
  });
  afterEach(async () => {
    await engine?.stop({ deadlineMs: 1000 });
    engine = undefined;
    await api.close();
  });

  async function start(config: Partial<ConnectionConfig>) {
    const connections = testConnections(t.storage, { api: { baseUrl: api.origin, ...config } });
    engine = testEngine({ storage: t.storage, integrations: [postsOrder], connections });
    await engine.start();
    return engine;
  }

  async function send(n: number): Promise<string> {
    const { runIds } = await (engine as Engine).send({ type: "order", payload: { n } });
    return runIds[0] as string;
  }

  it("waits out a 429's Retry-After before the next request, without using an attempt", async () => {
    await start({});
    api.queue({ status: 429, headers: { "retry-after": "2" } });
    const runId = await send(1);
    const waiting = await waitForRunStatus(t.storage, runId, "waiting");
    expect(waiting.waitingOn).toBe("api");
    const run = await waitForRunStatus(t.storage, runId, "succeeded");
    const [limited, accepted] = api.requests;
    expect((accepted?.at ?? 0) - (limited?.at ?? 0)).toBeGreaterThanOrEqual(2000);
    expect(run.failures).toBe(0);
    expect((await t.storage.listSteps(runId))[0]?.failures).toBe(0);
    // Both requests belong to one step attempt's retry of the same write: the same idempotency key.
    expect(accepted?.headers["idempotency-key"]).toBe(limited?.headers["idempotency-key"]);
  });

  it("holds every run back while the API says its quota is spent", async () => {
    await start({});
    api.queue({ status: 200, headers: { "x-ratelimit-remaining": "0", "x-ratelimit-reset": "2" } });
    const first = await send(1);
    await waitForRunStatus(t.storage, first, "succeeded");
    const second = await send(2);
    await waitForRunStatus(t.storage, second, "succeeded");
    const [spent, next] = api.requests;
    expect((next?.at ?? 0) - (spent?.at ?? 0)).toBeGreaterThanOrEqual(1900);
    expect((await t.storage.getRun(second))?.failures).toBe(0);
  });

  it("spreads requests to stay under the configured rate", async () => {
    await start({ rateLimit: "10/s" });
    const runIds = await Promise.all(Array.from({ length: 12 }, (_, i) => send(i)));
    for (const runId of runIds) await waitForRunStatus(t.storage, runId, "succeeded");
    expect(
      maxInAnyWindow(
        api.requests.map((r) => r.at),
        1000,
      ),
    ).toBeLessThanOrEqual(11);
    const runs = await Promise.all(runIds.map((id) => t.storage.getRun(id)));
    expect(runs.every((run) => run?.failures === 0)).toBe(true);
  });

  it("opens the circuit after repeated failures, makes runs wait, and completes them all once the API heals", async () => {
    await start({ circuit: { failureThreshold: 3, cooldown: "500ms" } });
    let healthy = false;
    api.respond = () => (healthy ? { status: 201, body: { ok: true } } : { status: 503 });
    const runIds = await Promise.all(Array.from({ length: 10 }, (_, i) => send(i)));
    await waitFor("the circuit to open", async () => {
      const circuit = await t.storage.connections.getCircuit("api");
      return circuit.status === "open" ? circuit : null;
    });
    await waitFor("every run to wait or be done", async () => {
      const runs = await Promise.all(runIds.map((id) => t.storage.getRun(id)));
      return runs.some((run) => run?.status === "waiting") ? runs : null;
    });
    const failedWhileOpen = api.requests.length;
    healthy = true;
    for (const runId of runIds) await waitForRunStatus(t.storage, runId, "succeeded", 20_000);
    const runs = await Promise.all(runIds.map((id) => t.storage.getRun(id)));
    expect(runs.filter((run) => run?.status === "dead")).toEqual([]);
    // Only the first failures (up to the threshold, plus those already in flight) were sent; then probes.
    expect(failedWhileOpen).toBeLessThan(10 * 3);
    const kinds = (await t.storage.connections.listIncidents({ connectionId: "api" })).map((i) => i.kind);
    expect(kinds).toContain("circuit_opened");
    expect(kinds[0]).toBe("circuit_closed");
    expect((await t.storage.connections.getCircuit("api")).status).toBe("closed");
  });
});
