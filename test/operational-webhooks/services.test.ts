import { describe, expect, it } from "vitest";
import { startTenonServices } from "../../src/app/tenon-services.ts";
import { defineConfig } from "../../src/config/define-config.ts";
import { readSettings } from "../../src/config/settings.ts";
import { secretFromEnv } from "../../src/sdk/secret-from-env.ts";
import { backends, useTestStorage } from "../support/backends.ts";
import { testVault } from "../support/connections.ts";
import { silentLogger } from "../support/engine.ts";

const secret = `whsec_${Buffer.from("services-subscriber-signing-key-0123").toString("base64")}`;
const token = "viewer-token-0123456789";

describe.each(backends)("operational webhooks in a Tenon process ($name)", (backend) => {
  const t = useTestStorage(backend);

  it("tenon start wires the subscribers: the API lists them, and the pump and the alert rules run without any alert channel", async () => {
    const storage = t.db.open();
    const services = await startTenonServices({
      config: defineConfig({
        integrations: [],
        operationalWebhooks: {
          ops: {
            url: "https://ops.example.com/tenon",
            secrets: [secretFromEnv("OPS_WEBHOOK_SECRET", { OPS_WEBHOOK_SECRET: secret })],
            events: ["run.dead", "alert.firing"],
          },
        },
      }),
      settings: readSettings({ TENON_HTTP_PORT: "0", TENON_API_TOKENS: `wallboard:viewer:${token}` }),
      storage,
      vault: testVault(),
      logger: silentLogger,
    });
    try {
      const response = await fetch(`${services.address}/api/operational-webhooks`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({
        webhooks: [
          {
            name: "ops",
            url: "https://ops.example.com/tenon",
            events: ["run.dead", "alert.firing"],
            disableAfterMs: 5 * 86_400_000,
            state: "active",
            lastSuccessAt: null,
            failingSince: null,
            consecutiveFailures: 0,
            disabledAt: null,
            disabledReason: null,
            enabledAt: null,
            skipped: 0,
          },
        ],
      });
      // The pump started its cursors at its first pass, and the evaluator took its lease.
      await expect.poll(() => storage.operationalWebhooks.getCursor("runs")).not.toBeNull();
      // (A claim that lapses at once: it cannot keep the evaluator out if it got there first.)
      await expect.poll(() => storage.alerts.claimEvaluation("another worker", Date.now(), Date.now() - 1)).toBe(false);
    } finally {
      await services.stop(1000);
    }
  });

  it("a subscriber's missing secret stops the start with the variable's name", async () => {
    const storage = t.db.open();
    const start = startTenonServices({
      config: defineConfig({
        integrations: [],
        operationalWebhooks: {
          ops: {
            url: "https://ops.example.com/tenon",
            secrets: [secretFromEnv("OPS_WEBHOOK_SECRET", {})],
            events: ["*"],
          },
        },
      }),
      settings: readSettings({ TENON_HTTP_PORT: "0" }),
      storage,
      vault: testVault(),
      logger: silentLogger,
    });
    await expect(start).rejects.toThrow("OPS_WEBHOOK_SECRET");
    await storage.close();
  });
});
