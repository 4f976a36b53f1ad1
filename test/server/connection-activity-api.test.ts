import { afterEach, describe, expect, it } from "vitest";
import type { Engine } from "../../src/engine/engine.ts";
import { defineIntegration } from "../../src/sdk/define-integration.ts";
import { ApiTestServer } from "../support/api-server.ts";
import { backends, useTestStorage } from "../support/backends.ts";
import { testConnections } from "../support/connections.ts";
import { testEngine, waitForRunStatus } from "../support/engine.ts";
import { type RunningServer, startTestServer } from "../support/server.ts";

const token = "activity-api-token-1";

const callsCrm = defineIntegration<{ n: number }>({
  id: "calls-crm",
  trigger: { event: "call" },
  run: ({ event, step, connection }) =>
    step.run("call", async () => (await connection("crm").post("/contacts", { json: event.payload })).status),
});

/**
 * `GET /api/connections/:id/activity`: what a connection did to runs, which the connections page shows: the runs
 * it holds now (paused for its credentials, waiting for its rate limit), and its last hour of pauses, resumes
 * and waits with the newest of each, so an operator sees paused runs go back to work after re-authorising.
 */
describe.each(backends)("a connection's activity in the API ($name)", (backend) => {
  const t = useTestStorage(backend);
  let api: ApiTestServer | undefined;
  let engine: Engine | undefined;
  let http: RunningServer | undefined;

  afterEach(async () => {
    await http?.server.close();
    await engine?.stop({ deadlineMs: 1000 });
    await api?.close();
    http = undefined;
    engine = undefined;
    api = undefined;
  });

  async function start() {
    api = new ApiTestServer();
    await api.start();
    // Every wait a 429 asks for is a run's wait (rescheduled), none is waited out inside the request.
    const connections = testConnections(
      t.storage,
      { crm: { baseUrl: api.origin, auth: { type: "bearer" } } },
      { maxInlineWaitMs: 0 },
    );
    engine = testEngine({ storage: t.storage, integrations: [callsCrm], connections });
    await engine.start();
    http = await startTestServer(engine, { apiTokens: [token], sources: {}, connections });
    return { api, engine, http };
  }

  async function call(method: string, path: string, body?: unknown) {
    const response = await fetch(`${http?.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    // biome-ignore lint/suspicious/noExplicitAny: tests look into whatever JSON came back
    return { status: response.status, json: (await response.json()) as any };
  }

  it("counts the runs paused for missing credentials, then their resume once credentials are stored", async () => {
    const { engine } = await start();
    const runIds: string[] = [];
    for (let n = 0; n < 3; n += 1)
      runIds.push((await engine.send({ type: "call", payload: { n } })).runIds[0] as string);
    for (const runId of runIds) await waitForRunStatus(t.storage, runId, "paused");

    const paused = await call("GET", "/api/connections/crm/activity");
    expect(paused.status).toBe(200);
    expect(paused.json).toMatchObject({
      held: { paused: 3, waiting: 0 },
      lastHour: { pauses: 3, resumes: 0, waits: 0, capped: false },
      lastWait: null,
      lastResume: null,
    });

    const stored = await call("PUT", "/api/connections/crm/credentials", { credentials: { token: "crm-token" } });
    expect(stored.json).toEqual({ resumedRuns: 3 });
    for (const runId of runIds) await waitForRunStatus(t.storage, runId, "succeeded");
    const resumed = await call("GET", "/api/connections/crm/activity");
    expect(resumed.json).toMatchObject({
      held: { paused: 0, waiting: 0 },
      lastHour: { pauses: 3, resumes: 3 },
      lastResume: { reason: "new credentials were saved", runs: 3 },
    });
    expect(Date.parse(resumed.json.lastResume.at)).toBeGreaterThan(Date.now() - 60_000);
  });

  it("counts a run waiting for the API's rate limit and names it, until it went through", async () => {
    const { api, engine } = await start();
    await call("PUT", "/api/connections/crm/credentials", { credentials: { token: "crm-token" } });
    api.queue({ status: 429, headers: { "retry-after": "2" } });
    const runId = (await engine.send({ type: "call", payload: { n: 1 } })).runIds[0] as string;
    await waitForRunStatus(t.storage, runId, "waiting");

    const waiting = await call("GET", "/api/connections/crm/activity");
    expect(waiting.json).toMatchObject({
      held: { paused: 0, waiting: 1 },
      lastHour: { waits: 1 },
      lastWait: { runId },
    });
    expect(waiting.json.lastWait.reason).toContain("rate limited");
    expect(Date.parse(waiting.json.lastWait.until)).toBeGreaterThan(Date.parse(waiting.json.lastWait.at));

    await waitForRunStatus(t.storage, runId, "succeeded");
    const after = await call("GET", "/api/connections/crm/activity");
    expect(after.json).toMatchObject({ held: { waiting: 0 }, lastHour: { waits: 1 }, lastWait: { runId } });
  });

  it("answers 404 for a connection that is not configured", async () => {
    await start();
    const answer = await call("GET", "/api/connections/billing/activity");
    expect([answer.status, answer.json.error]).toEqual([404, "unknown_connection"]);
  });
});
