import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { startTenonServices } from "../../src/app/tenon-services.ts";
import { defineConfig } from "../../src/config/define-config.ts";
import { readSettings } from "../../src/config/settings.ts";
import { secretFromEnv } from "../../src/sdk/secret-from-env.ts";
import { backends, useTestStorage } from "../support/backends.ts";
import { testVault } from "../support/connections.ts";
import { endRuns } from "../support/ended-runs.ts";
import { silentLogger } from "../support/engine.ts";
import { waitFor } from "../support/wait.ts";

const secret = `whsec_${Buffer.from("services-test-signing-secret").toString("base64")}`;

describe.each(backends)("alerting in a Tenon process ($name)", (backend) => {
  const t = useTestStorage(backend);

  it("tenon start evaluates the rules and delivers through the configured channel", async () => {
    const received: { headers: IncomingHttpHeaders; body: string }[] = [];
    const receiver = createServer((request, response) => {
      let body = "";
      request.on("data", (chunk: Buffer) => {
        body += chunk.toString("utf8");
      });
      request.on("end", () => {
        received.push({ headers: request.headers, body });
        response.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/alerts`;
    const storage = t.db.open();
    await storage.migrate();
    await endRuns(storage, "billing", "dead", 1, Date.now() - 1000);
    const services = await startTenonServices({
      config: defineConfig({
        integrations: [],
        alerts: {
          channels: {
            ops: { type: "webhook", url, secrets: [secretFromEnv("OPS_ALERT_SECRET", { OPS_ALERT_SECRET: secret })] },
          },
          evaluateEvery: "100ms",
        },
      }),
      settings: readSettings({ TENON_HTTP_PORT: "0" }),
      storage,
      vault: testVault(),
      logger: silentLogger,
    });
    try {
      await waitFor("the alert at the receiver", async () => (received.length > 0 ? true : null));
      const [first] = received;
      const body = new Webhook(secret).verify(first?.body ?? "", first?.headers as Record<string, string>);
      expect(body).toMatchObject({ status: "firing", commonLabels: { alertname: "run_dead", integration: "billing" } });
      const alerts = await fetch(`${services.address}/api/alerts`);
      // No API token is configured: the API is closed, as everywhere else.
      expect(alerts.status).toBe(401);
    } finally {
      await services.stop(1000);
      await new Promise((resolve) => receiver.close(resolve));
    }
  });

  it("a channel's missing secret stops the start with the variable's name", async () => {
    const storage = t.db.open();
    const start = startTenonServices({
      config: defineConfig({
        integrations: [],
        alerts: { channels: { ops: { type: "slack", webhookUrl: secretFromEnv("SLACK_OPS_URL", {}) } } },
      }),
      settings: readSettings({ TENON_HTTP_PORT: "0" }),
      storage,
      vault: testVault(),
      logger: silentLogger,
    });
    await expect(start).rejects.toThrow("SLACK_OPS_URL");
    await storage.close();
  });

  it("defineConfig refuses an alerts section with a mistake, saying what is wrong", () => {
    expect(() => defineConfig({ integrations: [], alerts: { channels: { ops: { type: "sms" } } } } as never)).toThrow(
      'alerts.channels.ops.type must be "webhook", "slack", "email" or "pagerduty"',
    );
    expect(() => defineConfig({ integrations: [], alerts: { channels: {}, rules: {} } } as never)).toThrow(
      "alerts.channels must name at least one channel",
    );
    expect(() =>
      defineConfig({
        integrations: [],
        alerts: {
          channels: { ops: { type: "webhook", url: "https://x.example", secrets: ["whsec_a"] } },
          rules: { deadRuns: {} },
        },
      } as never),
    ).toThrow('unknown rule "deadRuns"');
  });
});
