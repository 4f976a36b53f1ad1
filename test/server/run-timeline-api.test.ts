import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Connections } from "../../src/connections/connections.ts";
import type { Engine } from "../../src/engine/engine.ts";
import { defineIntegration } from "../../src/sdk/define-integration.ts";
import { ApiTestServer } from "../support/api-server.ts";
import { backends, useTestStorage } from "../support/backends.ts";
import { testConnections } from "../support/connections.ts";
import { testEngine, waitForRunStatus } from "../support/engine.ts";
import { type RunningServer, startTestServer } from "../support/server.ts";

const token = "timeline-token-1";

const createsContact = defineIntegration<{ email: string }>({
  id: "creates-contact",
  trigger: { event: "customer.created" },
  retries: { maxAttempts: 5, initialDelay: "20ms", maxDelay: "50ms" },
  run: ({ event, step, connection }) =>
    step.run("create contact", async () => (await connection("crm").post("/contacts", { json: event.payload })).body),
});

describe.each(backends)("GET /api/runs/:id tells a run's story ($name)", (backend) => {
  const t = useTestStorage(backend);
  let crm: ApiTestServer;
  let connections: Connections;
  let engine: Engine;
  let http: RunningServer;

  beforeEach(async () => {
    crm = new ApiTestServer();
    await crm.start();
    connections = testConnections(
      t.storage,
      { crm: { baseUrl: crm.origin, auth: { type: "apiKey", in: "header", name: "X-Api-Key" }, circuit: false } },
      // Any rate-limit wait reschedules the run instead of waiting inside the request.
      { maxInlineWaitMs: 0 },
    );
    engine = testEngine({ storage: t.storage, integrations: [createsContact], connections });
    await engine.start();
    await connections.setCredentials("crm", { apiKey: "old-key" });
    http = await startTestServer(engine, { apiTokens: [token], sources: {}, connections });
  });
  afterEach(async () => {
    await http.server.close();
    await engine.stop({ deadlineMs: 1000 });
    await crm.close();
  });

  async function call(method: string, path: string, body?: unknown) {
    const response = await fetch(`${http.url}${path}`, {
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

  it("a run rate-limited, paused on an auth failure, resumed by new credentials, retried and succeeded shows each moment in order", async () => {
    crm.queue(
      { status: 429, headers: { "retry-after": "1" }, body: { error: "slow down" } },
      { status: 401, body: { error: "invalid api key" } },
      { status: 503, body: { error: "maintenance" } },
    );
    crm.respond = () => ({ status: 201, body: { id: "contact_1" } });
    const { runIds } = await engine.send({ type: "customer.created", payload: { email: "ada@example.com" } });
    const runId = runIds[0] as string;

    await waitForRunStatus(t.storage, runId, "paused", 10_000);
    const fixed = await call("PUT", "/api/connections/crm/credentials", { credentials: { apiKey: "new-key" } });
    expect(fixed).toEqual({ status: 200, json: { resumedRuns: 1 } });
    await waitForRunStatus(t.storage, runId, "succeeded", 10_000);
    await connections.stop(); // flushes the audit trail

    const answer = await call("GET", `/api/runs/${runId}`);
    expect(answer.status).toBe(200);
    const timeline = answer.json;
    expect(timeline.run).toMatchObject({ id: runId, status: "succeeded", lastError: null });

    const moments = timeline.stateChanges.map((c: { state: string }) => c.state);
    expect(moments).toEqual([
      "queued",
      "claimed",
      "waiting",
      "claimed",
      "paused",
      "resumed",
      "claimed",
      "retry scheduled",
      "claimed",
      "succeeded",
    ]);
    const times = timeline.stateChanges.map((c: { at: string }) => Date.parse(c.at));
    expect(times).toEqual([...times].sort((a, b) => a - b));
    const [, firstClaim, waiting, , paused, resumed, , retry] = timeline.stateChanges;
    expect(firstClaim.detail).toMatch(/pid \d+/);
    expect(waiting).toMatchObject({ connectionId: "crm", until: expect.any(String) });
    expect(Date.parse(waiting.until) - Date.parse(waiting.at)).toBeGreaterThanOrEqual(900);
    expect(paused).toMatchObject({ connectionId: "crm" });
    expect(paused.detail).toContain("401");
    expect(resumed).toMatchObject({ connectionId: "crm", detail: "new credentials were saved" });
    expect(retry).toMatchObject({ stepName: "create contact", until: expect.any(String) });
    expect(retry.detail).toContain("503");

    // The step's attempts: the one that failed with the 503, then the one that succeeded (waits and pauses use none).
    const [step] = timeline.steps;
    expect(step.attempts.map((a: { attempt: number; outcome: string }) => [a.attempt, a.outcome])).toEqual([
      [1, "failed"],
      [2, "succeeded"],
    ]);
    // Every exchange, oldest first, as the audit trail stored it: the key redacted.
    expect(timeline.exchanges.map((e: { status: number }) => e.status)).toEqual([429, 401, 503, 201]);
    expect(JSON.stringify(timeline)).not.toContain("old-key");
    expect(JSON.stringify(timeline)).not.toContain("new-key");
    const incidents = timeline.incidents.map((i: { kind: string }) => i.kind);
    expect(incidents).toEqual(["auth_failed", "auth_restored"]);
  });

  it("answers 404 for a run that is not stored", async () => {
    const answer = await call("GET", "/api/runs/no-such-run");
    expect(answer).toEqual({
      status: 404,
      json: { error: "unknown_run", message: 'no run "no-such-run" is stored' },
    });
  });
});
