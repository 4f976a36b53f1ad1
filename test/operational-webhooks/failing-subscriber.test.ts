import { afterEach, describe, expect, it } from "vitest";
import { type Alerting, createAlerting } from "../../src/alerting/alerting.ts";
import type { Connections } from "../../src/connections/connections.ts";
import type { Engine } from "../../src/engine/engine.ts";
import {
  createOperationalWebhooks,
  defaultSettleMs,
  type OperationalWebhooks,
} from "../../src/operational-webhooks/operational-webhooks.ts";
import { defineIntegration } from "../../src/sdk/define-integration.ts";
import { createServer, type TenonServer } from "../../src/server/create-server.ts";
import type { RunRecord } from "../../src/storage/contract.ts";
import { backends, useTestStorage } from "../support/backends.ts";
import { ManualClock } from "../support/clock.ts";
import { testConnections } from "../support/connections.ts";
import { silentLogger, testEngine, waitForRunStatus } from "../support/engine.ts";
import { StandardWebhookReceiver } from "../support/standard-webhook-receiver.ts";
import { waitFor } from "../support/wait.ts";

const day = 86_400_000;
const opsSecret = `whsec_${Buffer.from("failing-ops-signing-key-0123456789ab").toString("base64")}`;
const auditSecret = `whsec_${Buffer.from("failing-audit-signing-key-0123456789").toString("base64")}`;
const tokens = { operator: "operator-token-0123456789", viewer: "viewer-token-0123456789" };

const billing = defineIntegration<{ order: number }>({
  id: "billing",
  trigger: { event: "order.paid" },
  retries: { maxAttempts: 1 },
  run: ({ step }) =>
    step.run("invoice", () => {
      throw new Error("accounting answered 500");
    }),
});

describe.each(backends)("operational webhooks: a failing subscriber ($name)", (backend) => {
  const t = useTestStorage(backend);
  const ops = new StandardWebhookReceiver("/ops");
  const audit = new StandardWebhookReceiver("/audit");
  let engine: Engine | undefined;
  let connections: Connections | undefined;
  let server: TenonServer | undefined;
  let alerting: Alerting | undefined;

  afterEach(async () => {
    await server?.close();
    await engine?.stop({ deadlineMs: 0 });
    await connections?.stop();
    alerting?.close();
    await Promise.all([ops.close(), audit.close()]);
  });

  it("is retried until its endpoint is back; failing past disableAfter it is disabled with an alert, and the API enables it again", async () => {
    const storage = t.storage;
    const clock = new ManualClock(Date.now());
    await Promise.all([ops.start(), audit.start()]);
    const send = (event: Parameters<Engine["send"]>[0]) => (engine as Engine).send(event);
    const webhooks: OperationalWebhooks = createOperationalWebhooks({
      config: {
        ops: { url: ops.url, secrets: [opsSecret], events: ["run.dead"] },
        audit: { url: audit.url, secrets: [auditSecret], events: ["*"] },
      },
      storage,
      clock,
      logger: silentLogger,
      publicUrl: "https://tenon.example.com",
      send,
    });
    // No alert channel: the rules still run, and their alerts go to the subscribers that want them.
    alerting = createAlerting({
      config: { channels: {}, rules: { runDead: false, errorRate: false, consecutiveFailures: false } },
      storage,
      clock,
      logger: silentLogger,
      publicUrl: "https://tenon.example.com",
      connectionIds: [],
      pollIds: [],
      integrations: [],
      send,
      onNotification: webhooks.tellAlert,
      webhookSubscribers: ["ops", "audit"],
    });
    connections = testConnections(storage, webhooks.connections, { clock });
    engine = testEngine({ storage, clock, connections, integrations: [billing, ...webhooks.integrations] });
    await engine.start();
    server = createServer({
      engine,
      logger: silentLogger,
      apiTokens: [
        { name: "alice", role: "operator", token: tokens.operator },
        { name: "wallboard", role: "viewer", token: tokens.viewer },
      ],
      operationalWebhooks: webhooks.subscribers,
      now: () => clock.now(),
    });
    const api = await server.listen({ host: "127.0.0.1", port: 0 });
    const call = async (method: string, path: string, token: string) => {
      const response = await fetch(`${api}${path}`, { method, headers: { authorization: `Bearer ${token}` } });
      // biome-ignore lint/suspicious/noExplicitAny: tests look into whatever JSON came back
      return { status: response.status, json: (await response.json()) as any };
    };
    const opsState = async () =>
      (await call("GET", "/api/operational-webhooks", tokens.viewer)).json.webhooks.find(
        (webhook: { name: string }) => webhook.name === "ops",
      );
    const deliveriesTo = (name: string) => storage.listRuns({ integrationId: `tenon-webhooks.${name}` });
    const allDelivered = async (name: string, count: number) =>
      waitFor(`${count} deliveries to ${name} to end`, async () => {
        const runs = await deliveriesTo(name);
        return runs.length === count && runs.every((run) => run.status === "succeeded" || run.status === "dead");
      });
    /** A run of billing ends dead; the pump reads it once it has settled. */
    const deadRun = async () => {
      const runId = (await engine?.send({ type: "order.paid", payload: { order: 1 } }))?.runIds[0] as string;
      await waitForRunStatus(storage, runId, "dead");
      clock.advance(defaultSettleMs);
      await webhooks.pump.pumpOnce();
      return runId;
    };
    /** Moves the clock to the delivery's next attempt, once it is retrying; returns the run once it ended. */
    const nextAttempt = async (run: RunRecord) => {
      const retrying = await waitForRunStatus(storage, run.id, ["retrying", "succeeded", "dead"]);
      if (retrying.status !== "retrying") return retrying;
      clock.set(retrying.availableAt);
      engine?.wake();
      await waitFor("the attempt", async () => {
        const after = await storage.getRun(run.id);
        return after?.status === "retrying" ? after.availableAt !== retrying.availableAt : after?.status !== "running";
      });
      return null;
    };
    await webhooks.pump.pumpOnce();

    // 1. The endpoint answers 500: the delivery is retried on the schedule, and arrives once it is back.
    ops.down = true;
    await deadRun();
    const [first] = await waitFor("a delivery to ops", async () => {
      const runs = await deliveriesTo("ops");
      return runs.length === 1 ? runs : null;
    });
    await nextAttempt(first as RunRecord);
    await waitFor("two refusals", () => ops.refused.length === 2);
    const third = await waitForRunStatus(storage, (first as RunRecord).id, "retrying");
    expect(third.availableAt - clock.now()).toBe(5 * 60_000);
    ops.down = false;
    await nextAttempt(third);
    await waitForRunStatus(storage, third.id, "succeeded");
    expect(ops.verified(opsSecret).map((d) => d.body.type)).toEqual(["run.dead"]);
    expect(new Set(ops.deliveries.map((d) => d.headers["webhook-id"])).size).toBe(1);
    expect(await opsState()).toMatchObject({ state: "active", lastSuccessAt: expect.any(String), failingSince: null });

    // 2. Down for good: the next delivery is given up after every retry (about 28 hours), and ops is failing.
    ops.down = true;
    await deadRun();
    const [, second] = await waitFor("a second delivery to ops", async () => {
      const runs = await deliveriesTo("ops");
      return runs.length === 2 ? runs.sort((a, b) => a.createdAt - b.createdAt) : null;
    });
    while (!(await nextAttempt(second as RunRecord))) {}
    expect((await storage.getRun((second as RunRecord).id))?.status).toBe("dead");
    expect(ops.refused).toHaveLength(2 + 8);
    clock.advance(defaultSettleMs);
    await webhooks.pump.pumpOnce();
    expect(await opsState()).toMatchObject({
      state: "failing",
      consecutiveFailures: 1,
      failingSince: new Date((second as RunRecord).createdAt).toISOString(),
      disabledAt: null,
    });
    // Its dead delivery is not news for the other subscriber: audit heard of billing's runs only.
    await allDelivered("audit", 2);
    const toldAudit = audit.verified(auditSecret).map((d) => d.body.data.run as { integration: string });
    expect(toldAudit.map((run) => run.integration)).toEqual(["billing", "billing"]);

    // 3. Five days of failure, no success: disabled at the next pass, and the alert fires (told to audit, not ops).
    clock.set((second as RunRecord).createdAt + 5 * day - 1);
    await webhooks.pump.pumpOnce();
    expect((await opsState()).state).toBe("failing");
    clock.advance(1);
    await webhooks.pump.pumpOnce();
    expect(await opsState()).toMatchObject({ state: "disabled", disabledAt: new Date(clock.now()).toISOString() });
    await alerting.evaluator.evaluateOnce();
    const [disabledAlert] = await storage.alerts.listAlerts({ status: "firing" });
    expect(disabledAlert).toMatchObject({ rule: "webhook_disabled", subject: "webhook:ops", severity: "critical" });
    expect(disabledAlert?.summary).toContain("tenon webhooks enable ops");
    await waitFor("the alert at audit", () => audit.accepted.length === 3);
    expect(audit.verified(auditSecret)[2]?.body).toMatchObject({
      type: "alert.firing",
      data: { alert: { rule: "webhook_disabled", subject: "webhook:ops", status: "firing" } },
    });

    // 4. While disabled, nothing is started for ops: what it would have had is counted as skipped.
    ops.down = false;
    await deadRun();
    await allDelivered("audit", 4);
    expect(await deliveriesTo("ops")).toHaveLength(2);
    expect(await opsState()).toMatchObject({ state: "disabled", skipped: 1 });

    // 5. An operator enables it (a viewer may not): deliveries resume, and the alert resolves.
    const refused = await call("POST", "/api/operational-webhooks/ops/enable", tokens.viewer);
    expect(refused.status).toBe(403);
    const unknown = await call("POST", "/api/operational-webhooks/pager/enable", tokens.operator);
    expect(unknown).toMatchObject({ status: 404, json: { error: "unknown_webhook" } });
    expect(unknown.json.message).toContain("configured: ops, audit");
    const enabled = await call("POST", "/api/operational-webhooks/ops/enable", tokens.operator);
    expect(enabled.status).toBe(200);
    expect(enabled.json.webhook).toMatchObject({ name: "ops", state: "active", disabledAt: null, skipped: 1 });
    const [logged] = await storage.operatorAccess.listOperatorLog({ limit: 1 });
    expect(logged).toMatchObject({
      actor: "alice",
      action: "POST /api/operational-webhooks/:id/enable",
      target: "ops",
      detail: expect.stringContaining("enabled ops (disabled since"),
    });
    await deadRun();
    await allDelivered("ops", 3);
    expect(ops.accepted).toHaveLength(2);
    await alerting.evaluator.evaluateOnce();
    expect(await storage.alerts.listAlerts({ status: "firing" })).toEqual([]);
    await waitFor("the resolution at audit", () => audit.accepted.some((d) => d.body.includes('"alert.resolved"')));
    expect(audit.verified(auditSecret).some((d) => d.body.type === "alert.resolved")).toBe(true);
  });
});
