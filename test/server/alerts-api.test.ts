import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { alertFingerprint } from "../../src/alerting/alert-evaluator.ts";
import type { Engine } from "../../src/engine/engine.ts";
import { createServer, type TenonServer } from "../../src/server/create-server.ts";
import { testAlertEvaluator } from "../support/alerts.ts";
import { backends, useTestStorage } from "../support/backends.ts";
import { ManualClock } from "../support/clock.ts";
import { endRuns } from "../support/ended-runs.ts";
import { silentLogger, testEngine } from "../support/engine.ts";

const tokens = { operator: "operator-token-0123456789", viewer: "viewer-token-0123456789" };
const apiTokens = [
  { name: "alice", role: "operator" as const, token: tokens.operator },
  { name: "wallboard", role: "viewer" as const, token: tokens.viewer },
];

describe.each(backends)("the alerts API on $name", (backend) => {
  const t = useTestStorage(backend);
  let engine: Engine;
  let server: TenonServer;
  let url: string;
  const fingerprint = alertFingerprint("run_dead", "integration:billing");

  beforeEach(async () => {
    await t.storage.migrate();
    const clock = new ManualClock(Date.now());
    await endRuns(t.storage, "billing", "dead", 3, clock.now() - 60_000);
    await testAlertEvaluator(t.storage, clock, { errorRate: false, consecutiveFailures: false }).alerts.evaluateOnce();
    engine = testEngine({ storage: t.storage, integrations: [], worker: false });
    await engine.start();
    server = createServer({ engine, logger: silentLogger, apiTokens });
    url = await server.listen({ host: "127.0.0.1", port: 0 });
  });
  afterEach(async () => {
    await server.close();
    await engine.stop();
  });

  async function call(method: string, path: string, token: string, body?: unknown) {
    const response = await fetch(`${url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    // biome-ignore lint/suspicious/noExplicitAny: tests look into whatever JSON came back
    return { status: response.status, json: (text ? JSON.parse(text) : undefined) as any };
  }

  it("lists firing alerts for a viewer; only an operator acknowledges, and the operator log says who", async () => {
    const listed = await call("GET", "/api/alerts?status=firing", tokens.viewer);
    expect(listed.status).toBe(200);
    expect(listed.json.alerts).toEqual([
      expect.objectContaining({
        fingerprint,
        status: "firing",
        rule: "run_dead",
        subject: "integration:billing",
        severity: "critical",
        count: 3,
        notifications: 1,
        acknowledgedAt: null,
      }),
    ]);
    expect((await call("POST", `/api/alerts/${fingerprint}/ack`, tokens.viewer)).status).toBe(403);

    const acked = await call("POST", `/api/alerts/${fingerprint}/ack`, tokens.operator);
    expect(acked.status).toBe(200);
    expect(acked.json.alert).toMatchObject({ fingerprint, acknowledgedBy: "api:alice" });
    const log = await t.storage.operatorAccess.listOperatorLog({ limit: 10 });
    expect(log[0]).toMatchObject({
      actor: "alice",
      action: "POST /api/alerts/:id/ack",
      target: fingerprint,
      detail: "acknowledged run_dead on integration:billing",
    });
  });

  it("snoozes for a duration; refuses a bad body, an unknown alert, and one that is not firing", async () => {
    const before = Date.now();
    const snoozed = await call("POST", `/api/alerts/${fingerprint}/snooze`, tokens.operator, { for: "2h" });
    expect(snoozed.status).toBe(200);
    const until = Date.parse(snoozed.json.alert.snoozedUntil);
    expect(until).toBeGreaterThanOrEqual(before + 2 * 3_600_000);

    const bad = await call("POST", `/api/alerts/${fingerprint}/snooze`, tokens.operator, { for: "forever" });
    expect(bad).toMatchObject({ status: 400, json: { error: "invalid_snooze" } });
    expect((await call("POST", "/api/alerts/0000000000000000/ack", tokens.operator)).json).toMatchObject({
      error: "unknown_alert",
    });
    const alert = await t.storage.alerts.getAlert(fingerprint);
    await t.storage.alerts.saveAlert(
      { ...(alert as NonNullable<typeof alert>), status: "resolved", resolvedAt: Date.now() },
      { newEpisode: false },
    );
    const resolved = await call("POST", `/api/alerts/${fingerprint}/ack`, tokens.operator);
    expect(resolved).toMatchObject({ status: 409, json: { error: "not_firing" } });
    expect((await call("GET", "/api/alerts?status=everything", tokens.viewer)).status).toBe(400);
  });
});
