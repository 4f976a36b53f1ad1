import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Webhook } from "standardwebhooks";
import { afterEach, describe, expect, it } from "vitest";
import { type Alerting, createAlerting } from "../../src/alerting/alerting.ts";
import type { Connections } from "../../src/connections/connections.ts";
import type { Engine } from "../../src/engine/engine.ts";
import { backends, useTestStorage } from "../support/backends.ts";
import { ManualClock } from "../support/clock.ts";
import { testConnections } from "../support/connections.ts";
import { endRuns } from "../support/ended-runs.ts";
import { silentLogger, testEngine } from "../support/engine.ts";
import { waitFor } from "../support/wait.ts";

const minute = 60_000;
const opsSecret = `whsec_${Buffer.from("ops-signing-secret-0123456789").toString("base64")}`;
const oncallSecret = `whsec_${Buffer.from("oncall-signing-secret-987654").toString("base64")}`;

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

/** A webhook receiver on loopback that answers 503 while `down`, and keeps what it accepted. */
class Receiver {
  readonly accepted: Received[] = [];
  refused = 0;
  down = false;
  /** What it answers while down. */
  downStatus = 503;
  readonly #server: Server = createServer((request, response) => {
    let body = "";
    request.setEncoding("utf8");
    request.on("data", (chunk: string) => {
      body += chunk;
    });
    request.on("end", () => {
      if (this.down) {
        this.refused++;
        response.writeHead(this.downStatus).end("down for maintenance");
        return;
      }
      this.accepted.push({ headers: request.headers, body });
      response.writeHead(204).end();
    });
  });

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/hooks/alerts`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  /** The accepted notifications, each verified with the official Standard Webhooks library. */
  verified(secret: string): { id: string; body: Record<string, unknown> }[] {
    const webhook = new Webhook(secret);
    return this.accepted.map(({ headers, body }) => ({
      id: String(headers["webhook-id"]),
      body: webhook.verify(body, headers as Record<string, string>) as Record<string, unknown>,
    }));
  }
}

describe.each(backends)("alert delivery ($name)", (backend) => {
  const t = useTestStorage(backend);
  const ops = new Receiver();
  const oncall = new Receiver();
  let engine: Engine | undefined;
  let connections: Connections | undefined;
  let alerting: Alerting | undefined;

  afterEach(async () => {
    await engine?.stop({ deadlineMs: 0 });
    await connections?.stop();
    alerting?.close();
    await ops.close();
    await oncall.close();
  });

  it("a channel down for 10 minutes gets the alert once it is back; meanwhile the other channel is told", async () => {
    const storage = t.storage;
    const clock = new ManualClock(Date.now());
    const opsUrl = await ops.start();
    const oncallUrl = await oncall.start();
    alerting = createAlerting({
      config: {
        channels: {
          ops: { type: "webhook", url: opsUrl, secrets: [opsSecret] },
          oncall: { type: "webhook", url: oncallUrl, secrets: [oncallSecret] },
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
    // Ended before the worker starts: it would otherwise claim them (no integration "billing" is loaded here).
    await storage.migrate();
    await endRuns(storage, "billing", "dead", 3, clock.now() - minute);
    await engine.start();

    ops.down = true;
    await alerting.evaluator.evaluateOnce();
    await waitFor("oncall to be told", async () => (oncall.accepted.length === 1 ? true : null));
    await waitFor("the delivery to ops to be retrying", async () => {
      const [run] = await storage.listRuns({ integrationId: "tenon-alerts.ops" });
      return run?.status === "retrying" ? run : null;
    });

    // The delivery to ops is retrying: the next evaluation raises the meta-alert, told through oncall only.
    clock.advance(minute);
    await alerting.evaluator.evaluateOnce();
    await waitFor("the meta-alert at oncall", async () => (oncall.accepted.length === 2 ? true : null));
    const told = oncall.verified(oncallSecret).map((n) => (n.body.commonLabels as Record<string, string>).alertname);
    expect(told).toEqual(["run_dead", "channel_failing"]);

    // Ten minutes of outage, its retries refused; then ops is back and gets the notification, once.
    for (let i = 0; i < 5; i++) {
      clock.advance(2 * minute);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(ops.accepted).toHaveLength(0);
    ops.down = false;
    await waitFor("ops to receive the alert", async () => {
      if (ops.accepted.length > 0) return true;
      // Time moves only while the delivery waits (its next attempt, or its circuit's probe): one step per attempt,
      // however slow the machine.
      const [run] = await storage.listRuns({ integrationId: "tenon-alerts.ops" });
      if (run?.status === "retrying" || run?.status === "waiting") clock.advance(5 * minute);
      return null;
    });
    const [delivered] = ops.verified(opsSecret);
    expect(ops.accepted).toHaveLength(1);
    expect(ops.refused).toBeGreaterThanOrEqual(2);
    expect(delivered?.body).toMatchObject({
      version: "4",
      status: "firing",
      receiver: "ops",
      alerts: [
        {
          status: "firing",
          labels: { alertname: "run_dead", integration: "billing", severity: "critical" },
          annotations: { summary: "3 dead runs of integration billing in the last 1440 minutes", count: "3" },
          endsAt: "0001-01-01T00:00:00Z",
          generatorURL: "https://tenon.example.com/api/runs?integration=billing&status=dead",
        },
      ],
    });
    // The same webhook-id as the notification oncall got: receivers deduplicate on it.
    expect(delivered?.id).toBe(String(oncall.accepted[0]?.headers["webhook-id"]));

    // ops delivers again: the meta-alert resolves, told to oncall.
    await waitFor("the delivery to ops to succeed", async () => {
      const [run] = await storage.listRuns({ integrationId: "tenon-alerts.ops" });
      return run?.status === "succeeded" ? run : null;
    });
    await alerting.evaluator.evaluateOnce();
    await waitFor("the meta-alert's resolution at oncall", async () => (oncall.accepted.length === 3 ? true : null));
    const last = oncall.verified(oncallSecret)[2]?.body;
    expect(last).toMatchObject({ status: "resolved", commonLabels: { alertname: "channel_failing", channel: "ops" } });
    expect(JSON.stringify([...ops.accepted, ...oncall.accepted])).not.toContain("signing-secret");
  });

  it("a receiver answering 401 is a failed delivery to retry, not credentials of Tenon's to pause on", async () => {
    const storage = t.storage;
    const clock = new ManualClock(Date.now());
    const opsUrl = await ops.start();
    await oncall.start();
    alerting = createAlerting({
      config: {
        channels: { ops: { type: "webhook", url: opsUrl, secrets: [opsSecret] } },
        rules: { errorRate: false, consecutiveFailures: false, runDead: { window: "1d" } },
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
    await endRuns(storage, "billing", "dead", 1, clock.now() - minute);
    await engine.start();

    ops.down = true;
    ops.downStatus = 401;
    await alerting.evaluator.evaluateOnce();
    const retrying = await waitFor("the delivery to be retrying", async () => {
      const [run] = await storage.listRuns({ integrationId: "tenon-alerts.ops" });
      return run?.status === "retrying" ? run : null;
    });
    expect(retrying.lastError).toMatch(/401/);
    expect((await storage.connections.getConnection("alerts-ops"))?.status ?? "active").toBe("active");
    ops.down = false;
    await waitFor("ops to receive the alert", async () => {
      if (ops.accepted.length > 0) return true;
      const [run] = await storage.listRuns({ integrationId: "tenon-alerts.ops" });
      if (run?.status === "retrying") clock.advance(minute);
      return null;
    });
    expect(ops.verified(opsSecret)).toHaveLength(1);
  });
});
