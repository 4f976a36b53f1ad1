import pino from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Connections } from "../../src/connections/connections.ts";
import type { Engine } from "../../src/engine/engine.ts";
import {
  createOperationalWebhooks,
  defaultSettleMs,
  type OperationalWebhooks,
} from "../../src/operational-webhooks/operational-webhooks.ts";
import { defineIntegration } from "../../src/sdk/define-integration.ts";
import { NonRetryableError } from "../../src/sdk/errors.ts";
import { secretFromEnv } from "../../src/sdk/secret-from-env.ts";
import { ApiTestServer } from "../support/api-server.ts";
import { backends, useTestStorage } from "../support/backends.ts";
import { ManualClock } from "../support/clock.ts";
import { testConnections } from "../support/connections.ts";
import { databaseContents } from "../support/database-contents.ts";
import { endRuns } from "../support/ended-runs.ts";
import { silentLogger, testEngine, waitForRunStatus } from "../support/engine.ts";
import { StandardWebhookReceiver } from "../support/standard-webhook-receiver.ts";
import { waitFor } from "../support/wait.ts";

const opsSecret = `whsec_${Buffer.from("ops-subscriber-signing-key-0123456789").toString("base64")}`;
const opsNextSecret = `whsec_${Buffer.from("ops-subscriber-next-signing-key-98765").toString("base64")}`;
const auditSecret = `whsec_${Buffer.from("audit-subscriber-signing-key-4242424242").toString("base64")}`;
const crmToken = "crm-token-Zq81xPw0vLm3";

/** Fails at once: its one run ends dead. */
const billing = defineIntegration<{ order: number }>({
  id: "billing",
  trigger: { event: "order.paid" },
  retries: { maxAttempts: 1 },
  run: ({ step }) =>
    step.run("invoice", () => {
      throw new Error("accounting answered 500");
    }),
});

/** Refuses bad data: its run ends failed. */
const shipping = defineIntegration({
  id: "shipping",
  trigger: { event: "order.shipped" },
  run: () => {
    throw new NonRetryableError("no address");
  },
});

/** Calls the CRM: paused while its token is refused. */
const crmSync = defineIntegration({
  id: "crm-sync",
  trigger: { event: "contact.changed" },
  run: ({ step, connection }) => step.run("upsert", async () => (await connection("crm").post("/contacts")).status),
});

describe.each(backends)("operational webhooks: delivery ($name)", (backend) => {
  const t = useTestStorage(backend);
  let ops: StandardWebhookReceiver;
  let audit: StandardWebhookReceiver;
  let crm: ApiTestServer;
  let engine: Engine | undefined;
  let connections: Connections | undefined;

  beforeEach(() => {
    ops = new StandardWebhookReceiver("/tenon/ops");
    audit = new StandardWebhookReceiver("/tenon/audit");
    crm = new ApiTestServer();
  });
  afterEach(async () => {
    await engine?.stop({ deadlineMs: 0 });
    await connections?.stop();
    await Promise.all([ops, audit, crm].map((server) => server.close().catch(() => {})));
  });

  it("a subscriber receives run.dead and connection.auth_failed/restored, signed with each of its secrets; nothing it did not ask for; no secret is kept", async () => {
    const storage = t.storage;
    const clock = new ManualClock(Date.now());
    await Promise.all([ops.start(), audit.start(), crm.start()]);
    let revoked = false;
    crm.respond = (request) =>
      revoked || request.headers.authorization !== `Bearer ${crmToken}` ? { status: 401 } : { status: 201 };
    const lines: string[] = [];
    const logger = pino({ level: "trace" }, { write: (line: string) => lines.push(line) });
    const env = { OPS_WEBHOOK_SECRET: opsSecret, OPS_WEBHOOK_SECRET_NEXT: opsNextSecret };
    const webhooks: OperationalWebhooks = createOperationalWebhooks({
      config: {
        ops: {
          url: ops.url,
          secrets: [secretFromEnv("OPS_WEBHOOK_SECRET", env), secretFromEnv("OPS_WEBHOOK_SECRET_NEXT", env)],
          events: ["run.dead", "connection.auth_failed", "connection.restored"],
        },
        audit: { url: `${audit.url}?token=audit-query-token-77`, secrets: [auditSecret], events: ["drift.detected"] },
      },
      storage,
      clock,
      logger,
      publicUrl: "https://tenon.example.com/",
      send: (event) => (engine as Engine).send(event),
    });
    connections = testConnections(
      storage,
      {
        crm: { baseUrl: crm.origin, auth: { type: "bearer" }, credentials: { token: crmToken } },
        ...webhooks.connections,
      },
      { clock, logger },
    );
    engine = testEngine({
      storage,
      clock,
      logger,
      connections,
      integrations: [billing, shipping, crmSync, ...webhooks.integrations],
    });
    await engine.start();
    // The first pass starts the cursors: what happened before subscribers existed is not news.
    expect(await webhooks.pump.pumpOnce()).toBe(true);

    const dead = (await engine.send({ type: "order.paid", payload: { order: 1001 } })).runIds[0] as string;
    const failed = (await engine.send({ type: "order.shipped", payload: {} })).runIds[0] as string;
    await waitForRunStatus(storage, dead, "dead");
    await waitForRunStatus(storage, failed, "failed");
    revoked = true;
    const paused = (await engine.send({ type: "contact.changed", payload: {} })).runIds[0] as string;
    await waitForRunStatus(storage, paused, "paused");
    clock.advance(1000);
    revoked = false;
    expect(await connections.setCredentials("crm", { token: crmToken })).toBe(1);
    await waitForRunStatus(storage, paused, "succeeded");

    // Read once they have settled: items are stamped before they commit.
    await webhooks.pump.pumpOnce();
    expect(ops.deliveries).toHaveLength(0);
    clock.advance(defaultSettleMs);
    await webhooks.pump.pumpOnce();
    await waitFor("three deliveries to ops", () => ops.accepted.length === 3);
    await waitFor("the delivery runs to note their success", async () => {
      const runs = await storage.listRuns({ integrationId: "tenon-webhooks.ops" });
      return runs.length === 3 && runs.every((run) => run.status === "succeeded");
    });

    // Signed per Standard Webhooks, once per secret: a receiver holding either one verifies it.
    const received = ops.verified(opsSecret);
    expect(ops.verified(opsNextSecret).map((d) => d.id)).toEqual(received.map((d) => d.id));
    expect(ops.accepted[0]?.headers["webhook-signature"]).toMatch(/^v1,\S+ v1,\S+$/);
    const byType = new Map(received.map((d) => [d.body.type, d]));
    expect([...byType.keys()].sort()).toEqual(["connection.auth_failed", "connection.restored", "run.dead"]);
    expect(byType.get("run.dead")?.body).toMatchObject({
      type: "run.dead",
      data: {
        run: {
          id: dead,
          integration: "billing",
          status: "dead",
          error: expect.stringContaining("accounting answered 500"),
        },
        link: `https://tenon.example.com/api/runs/${dead}`,
      },
    });
    expect(Date.parse(byType.get("run.dead")?.body.timestamp ?? "")).toBe((await storage.getRun(dead))?.finishedAt);
    expect(byType.get("connection.auth_failed")?.body.data).toMatchObject({
      connection: { id: "crm" },
      incident: { kind: "auth_failed", detail: expect.stringContaining("401") },
      link: "https://tenon.example.com/api/health#connection-crm",
    });
    expect(byType.get("connection.restored")?.body.data).toMatchObject({
      connection: { id: "crm" },
      incident: { kind: "auth_restored" },
    });
    // webhook-id is the delivery event's id: `tenon events` finds the delivery a receiver logged.
    for (const { id } of received) {
      expect(id).toMatch(/^msg_[A-Za-z0-9_-]{24}$/);
      const runs = await storage.listRuns({ integrationId: "tenon-webhooks.ops" });
      const events = await Promise.all(runs.map((run) => storage.getEvent(run.eventId)));
      expect(events.map((event) => event?.dedupKey)).toContain(id);
    }
    // run.failed was not asked for; audit asked only for drift.
    expect(received.some((d) => d.body.type === "run.failed")).toBe(false);
    expect(audit.deliveries).toEqual([]);
    expect(await storage.operationalWebhooks.getSubscriberHealth("ops")).toMatchObject({
      consecutiveFailures: 0,
      failingSince: null,
      lastSuccessAt: expect.any(Number),
    });

    // The listing shows audit's URL without its token.
    expect(webhooks.subscribers.map((s) => s.shownUrl)).toEqual([ops.url, audit.url]);

    await connections.audit.flush();
    const exchanges = await storage.connections.listAudit({ connectionId: "webhooks-ops", limit: 10 });
    expect(exchanges).toHaveLength(3);
    expect(JSON.parse(exchanges[0]?.requestHeaders ?? "{}")["webhook-signature"]).toBe("[REDACTED]");
    const places: Record<string, string> = {
      logs: lines.join(""),
      audit: JSON.stringify(exchanges),
      database: await databaseContents(backend.name, t.db.env),
      deliveries: JSON.stringify(ops.deliveries.map((d) => d.body)),
    };
    for (const [place, text] of Object.entries(places)) {
      for (const secret of [opsSecret, opsNextSecret, auditSecret, "audit-query-token-77"]) {
        expect(text.includes(secret), `${place} holds a secret`).toBe(false);
        expect(text.includes(secret.replace(/^whsec_/, "")), `${place} holds a secret's key`).toBe(false);
      }
    }
  });

  it("drift.detected and run.failed reach the subscribers that asked for them, with what a receiver needs", async () => {
    const storage = t.storage;
    await storage.migrate();
    const clock = new ManualClock(Date.now());
    await Promise.all([ops.start(), audit.start()]);
    const webhooks = createOperationalWebhooks({
      config: {
        ops: { url: ops.url, secrets: [opsSecret], events: ["run.failed"] },
        audit: { url: audit.url, secrets: [auditSecret], events: ["drift.detected"] },
      },
      storage,
      clock,
      logger: silentLogger,
      publicUrl: undefined,
      send: (event) => (engine as Engine).send(event),
    });
    await webhooks.pump.pumpOnce();
    const at = clock.now();
    // Ended before the worker starts: it would otherwise claim them (no integration "shop-sync" is loaded here).
    await endRuns(storage, "shop-sync", "failed", 1, at);
    await storage.drift.recordIncidents([
      {
        id: "drift-1",
        shapeId: "shape-1",
        kind: "connection",
        subject: "accounting",
        method: "GET",
        routeTemplate: "/v3/company/{realm}/invoice/{id}",
        status: 200,
        eventType: null,
        fieldPath: "Invoice.DocNumber",
        change: "removed",
        breaking: true,
        example: null,
        seenCount: 4,
        at,
      },
    ]);
    connections = testConnections(storage, webhooks.connections, { clock });
    engine = testEngine({ storage, clock, connections, integrations: webhooks.integrations });
    await engine.start();
    clock.advance(defaultSettleMs);
    await webhooks.pump.pumpOnce();
    await waitFor("one delivery to each", () => ops.accepted.length === 1 && audit.accepted.length === 1);

    expect(ops.verified(opsSecret)[0]?.body).toMatchObject({
      type: "run.failed",
      timestamp: new Date(at).toISOString(),
      data: {
        run: { integration: "shop-sync", status: "failed", error: 'step "invoice": 500 from accounting' },
        // No public URL: links are relative to Tenon's address.
        link: expect.stringMatching(/^\/api\/runs\//),
      },
    });
    expect(audit.verified(auditSecret)[0]?.body).toEqual({
      type: "drift.detected",
      timestamp: new Date(at).toISOString(),
      data: {
        drift: {
          id: "drift-1",
          kind: "connection",
          subject: "accounting",
          method: "GET",
          route: "/v3/company/{realm}/invoice/{id}",
          status: 200,
          eventType: null,
          field: "Invoice.DocNumber",
          change: "removed",
          breaking: true,
          example: null,
          detectedAt: new Date(at).toISOString(),
        },
        link: "/api/drift?open=true&breaking=true",
      },
    });
  });
});
