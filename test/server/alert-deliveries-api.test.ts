import { afterEach, describe, expect, it } from "vitest";
import { alertFingerprint } from "../../src/alerting/alert-evaluator.ts";
import { type Alerting, createAlerting } from "../../src/alerting/alerting.ts";
import type { Connections } from "../../src/connections/connections.ts";
import type { Engine } from "../../src/engine/engine.ts";
import { createServer, type TenonServer } from "../../src/server/create-server.ts";
import { ApiTestServer } from "../support/api-server.ts";
import { backends, useTestStorage } from "../support/backends.ts";
import { ManualClock } from "../support/clock.ts";
import { testConnections } from "../support/connections.ts";
import { endRuns } from "../support/ended-runs.ts";
import { silentLogger, testEngine } from "../support/engine.ts";
import { waitFor } from "../support/wait.ts";

const minute = 60_000;
const viewerToken = "deliveries-viewer-token-0123";
const secret = `whsec_${Buffer.from("deliveries-signing-secret-42").toString("base64")}`;

// biome-ignore lint/suspicious/noExplicitAny: tests look into whatever JSON came back
type Delivery = any;

/**
 * `GET /api/alerts/deliveries`: each notification's delivery to each channel, read from the delivery runs alerting
 * starts (one durable run per notification and channel): delivered, retrying with the last error, or failed.
 */
describe.each(backends)("the alert deliveries API ($name)", (backend) => {
  const t = useTestStorage(backend);
  const receivers = { ops: new ApiTestServer(), oncall: new ApiTestServer(), chat: new ApiTestServer() };
  let engine: Engine | undefined;
  let connections: Connections | undefined;
  let alerting: Alerting | undefined;
  let server: TenonServer | undefined;

  afterEach(async () => {
    await server?.close();
    await engine?.stop({ deadlineMs: 0 });
    await connections?.stop();
    alerting?.close();
    for (const receiver of Object.values(receivers)) await receiver.close();
  });

  it("tells per channel: delivered, retrying with the receiver's answer, failed for good; then delivered", async () => {
    const storage = t.storage;
    const clock = new ManualClock(Date.now());
    for (const receiver of Object.values(receivers)) await receiver.start();
    let opsDown = true;
    receivers.ops.respond = () => (opsDown ? { status: 503, body: "down for maintenance" } : { status: 204 });
    receivers.oncall.respond = () => ({ status: 204 });
    // Slack answers 404 "no_service" for a webhook that was removed: not worth retrying.
    receivers.chat.respond = () => ({ status: 404, body: "no_service" });
    alerting = createAlerting({
      config: {
        channels: {
          ops: { type: "webhook", url: `${receivers.ops.origin}/alerts`, secrets: [secret] },
          oncall: { type: "webhook", url: `${receivers.oncall.origin}/alerts`, secrets: [secret] },
          chat: { type: "slack", webhookUrl: `${receivers.chat.origin}/services/T000/B000/slack-token-1` },
        },
        rules: { errorRate: false, consecutiveFailures: false, runDead: { window: "1d" } },
        renotifyAfter: "7d",
      },
      storage,
      clock,
      logger: silentLogger,
      publicUrl: "https://tenon.example.com",
      connectionIds: [],
      pollIds: [],
      integrations: [],
      send: (event) => (engine as Engine).send(event),
    });
    connections = testConnections(storage, alerting.connections, { clock });
    engine = testEngine({ storage, clock, connections, integrations: alerting.integrations });
    await storage.migrate();
    await endRuns(storage, "billing", "dead", 3, clock.now() - minute);
    await engine.start();
    server = createServer({
      engine,
      logger: silentLogger,
      apiTokens: [{ name: "wallboard", role: "viewer", token: viewerToken }],
      now: () => clock.now(),
    });
    const url = await server.listen({ host: "127.0.0.1", port: 0 });
    const deliveries = async (query = ""): Promise<{ status: number; json: { deliveries: Delivery[] } }> => {
      const response = await fetch(`${url}/api/alerts/deliveries${query}`, {
        headers: { authorization: `Bearer ${viewerToken}` },
      });
      return { status: response.status, json: (await response.json()) as { deliveries: Delivery[] } };
    };
    const byChannel = async () =>
      Object.fromEntries((await deliveries()).json.deliveries.map((d: Delivery) => [d.channel, d]));

    await alerting.evaluator.evaluateOnce();
    const settled = await waitFor("ops retrying, oncall delivered and chat failed", async () => {
      const states = await byChannel();
      return states.ops?.state === "retrying" && states.oncall?.state === "delivered" && states.chat?.state === "failed"
        ? states
        : null;
    });
    const notification = {
      fingerprint: alertFingerprint("run_dead", "integration:billing"),
      episode: 1,
      number: 1,
      status: "firing",
      rule: "run_dead",
      subject: "integration:billing",
    };
    expect(settled.ops).toMatchObject({ notification, failedAttempts: 1, deliveredAt: null });
    expect(settled.ops.lastError).toContain("answered 503");
    expect(Date.parse(settled.ops.nextAttemptAt)).toBeGreaterThan(clock.now());
    expect(settled.oncall).toMatchObject({ notification, failedAttempts: 0, lastError: null, nextAttemptAt: null });
    expect(Date.parse(settled.oncall.deliveredAt)).toBe(clock.now());
    expect(settled.chat).toMatchObject({ notification, failedAttempts: 1, deliveredAt: null, nextAttemptAt: null });
    expect(settled.chat.lastError).toContain("answered 404");
    // The receiver's answer, not the stack the run keeps with it (its own page shows that).
    expect(settled.chat.lastError).not.toContain("\n");
    // The Slack webhook's token is its credential: redacted in the error, as everywhere else.
    expect(JSON.stringify(settled)).not.toContain("slack-token-1");

    opsDown = false;
    const delivered = await waitFor("the delivery to ops to succeed", async () => {
      const states = await byChannel();
      if (states.ops?.state === "delivered") return states.ops;
      // Time moves to the next attempt only while the delivery waits for it: moving it while an attempt is under
      // way would outrun that attempt's lease, and a slow machine would never see one through.
      const next = states.ops?.state === "retrying" ? Date.parse(states.ops.nextAttemptAt) : Number.NaN;
      if (next > clock.now()) clock.set(next);
      return null;
    });
    expect(delivered).toMatchObject({ failedAttempts: 1, lastError: null, nextAttemptAt: null });
    expect(delivered.deliveredAt).not.toBeNull();

    expect((await deliveries("?limit=1")).json.deliveries).toHaveLength(1);
    const refused = await deliveries("?limit=0");
    expect(refused.status).toBe(400);
    expect(refused.json).toMatchObject({ error: "invalid_limit" });
  });
});
