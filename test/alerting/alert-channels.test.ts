import { afterEach, describe, expect, it } from "vitest";
import { alertFingerprint } from "../../src/alerting/alert-evaluator.ts";
import { type Alerting, createAlerting } from "../../src/alerting/alerting.ts";
import type { Connections } from "../../src/connections/connections.ts";
import type { Engine } from "../../src/engine/engine.ts";
import { createSandbox, type Sandbox } from "../../src/sandbox/create-sandbox.ts";
import type { ChatSystem } from "../../src/sandbox/systems/chat.ts";
import { createChat } from "../../src/sandbox/systems/chat.ts";
import type { MailSystem } from "../../src/sandbox/systems/mail.ts";
import { createMail } from "../../src/sandbox/systems/mail.ts";
import type { PagerSystem } from "../../src/sandbox/systems/pager.ts";
import { createPager } from "../../src/sandbox/systems/pager.ts";
import { backends, useTestStorage } from "../support/backends.ts";
import { ManualClock } from "../support/clock.ts";
import { testConnections } from "../support/connections.ts";
import { endRuns } from "../support/ended-runs.ts";
import { silentLogger, testEngine } from "../support/engine.ts";
import { waitFor } from "../support/wait.ts";

const minute = 60_000;

describe.each(backends)("alert channels at the sandbox's receivers ($name)", (backend) => {
  const t = useTestStorage(backend);
  let sandbox: Sandbox | undefined;
  let engine: Engine | undefined;
  let connections: Connections | undefined;
  let alerting: Alerting | undefined;

  afterEach(async () => {
    await engine?.stop({ deadlineMs: 0 });
    await connections?.stop();
    alerting?.close();
    await sandbox?.close();
  });

  it("Slack blocks, threaded email and one PagerDuty incident per alert; no secret in what they received", async () => {
    const storage = t.storage;
    const clock = new ManualClock(Date.now());
    sandbox = createSandbox({ systems: { chat: createChat, mail: createMail, pager: createPager } });
    await sandbox.listen({ host: "127.0.0.1", port: 0 });
    const chat = sandbox.system<ChatSystem>("chat");
    const mail = sandbox.system<MailSystem>("mail");
    const pager = sandbox.system<PagerSystem>("pager");
    const slackUrl = chat.webhookUrl("ops");
    const slackToken = slackUrl.split("/").at(-1) as string;
    const smtp = sandbox.credentials("mail");
    const routingKey = sandbox.credentials("pager").routingKey as string;

    alerting = createAlerting({
      config: {
        channels: {
          slack: { type: "slack", webhookUrl: slackUrl },
          email: {
            type: "email",
            smtp: {
              host: smtp.smtpHost as string,
              port: Number(smtp.smtpPort),
              secure: false,
              user: smtp.username as string,
              password: smtp.password as string,
            },
            from: "tenon@shop.example",
            to: ["ops@shop.example"],
          },
          pager: { type: "pagerduty", routingKey, url: sandbox.baseUrl("pager") },
        },
        rules: { errorRate: false, consecutiveFailures: false, runDead: { window: "10m" } },
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
    await endRuns(storage, "billing", "dead", 2, clock.now() - minute);
    await engine.start();

    await alerting.evaluator.evaluateOnce();
    const firing = () => chat.messages().length === 1 && mail.messages().length === 1 && pager.events().length === 1;
    await waitFor("the firing notification at all three", async () => (firing() ? true : null));
    clock.advance(15 * minute);
    await alerting.evaluator.evaluateOnce();
    const resolved = () => chat.messages().length === 2 && mail.messages().length === 2 && pager.events().length === 2;
    await waitFor("the resolved notification at all three", async () => (resolved() ? true : null));

    const fingerprint = alertFingerprint("run_dead", "integration:billing");
    // Slack: Block Kit as documented, a fallback text, a button to the runs; the resolved one names the original.
    const [fired, cleared] = chat.messages();
    expect(fired?.text).toBe("Firing: 2 dead runs of integration billing in the last 10 minutes");
    expect(fired?.blocks?.map((block) => (block as { type: string }).type)).toEqual([
      "header",
      "section",
      "section",
      "context",
      "actions",
    ]);
    expect(fired?.blocks?.[4]).toEqual({
      type: "actions",
      elements: [
        {
          type: "button",
          text: { type: "plain_text", text: "Open in Tenon" },
          url: "https://tenon.example.com/api/runs?integration=billing&status=dead",
        },
      ],
    });
    expect(cleared?.text).toMatch(/^Resolved: /);
    expect(JSON.stringify(cleared?.blocks)).toContain(`fingerprint ${fingerprint}`);

    // Email: the resolved message replies to the firing one, so mail clients thread them.
    const [first, second] = mail.messages();
    expect(first?.subject).toBe("[FIRING] 2 dead runs of integration billing in the last 10 minutes");
    expect(first?.messageId).toBe(`<${fingerprint}.1.1@tenon.example.com>`);
    expect(second?.subject).toMatch(/^\[RESOLVED\] /);
    expect(second?.inReplyTo).toBe(first?.messageId);
    expect(second?.references).toEqual([first?.messageId]);

    // PagerDuty: trigger then resolve with one dedup_key: one incident, resolved.
    expect(pager.incidents()).toHaveLength(1);
    expect(pager.incident(fingerprint)).toMatchObject({ status: "resolved", severity: "critical" });

    // No secret in anything they received, nor in the audit trail of the deliveries.
    const received = JSON.stringify([chat.messages(), mail.messages(), pager.events()]);
    for (const secret of [slackToken, smtp.password as string, routingKey]) expect(received).not.toContain(secret);
    await connections.stop();
    const audit = JSON.stringify(await storage.connections.listAudit({ limit: 100 }));
    expect(audit).toContain("/chat/services/");
    for (const secret of [slackToken, routingKey]) expect(audit).not.toContain(secret);
  });
});
