import { inspect } from "node:util";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { assertSecretsSet } from "../../src/config/assert-secrets-set.ts";
import { defineIntegration } from "../../src/sdk/define-integration.ts";
import { secretFromEnv } from "../../src/sdk/secret-from-env.ts";
import { ApiTestServer } from "../support/api-server.ts";
import { sqliteBackend, useTestStorage } from "../support/backends.ts";
import { testConnections } from "../support/connections.ts";
import { testEngine, waitForRunStatus } from "../support/engine.ts";
import { startTestServer } from "../support/server.ts";
import { secrets, stripeRequest } from "../support/signed-webhooks.ts";
import { waitFor } from "../support/wait.ts";

/** A logger whose lines the test can read. */
function recordingLogger() {
  const lines: string[] = [];
  const logger = pino({ level: "info" }, { write: (line: string) => lines.push(line) });
  return { logger, lines };
}

describe("secretFromEnv", () => {
  it("reads the variable when the secret is first used, not when the config is written", () => {
    const env: Record<string, string> = {};
    const secret = secretFromEnv("HOOK_SECRET", env);
    expect(secret.variable).toBe("HOOK_SECRET");
    expect(() => secret.resolve()).toThrow(/the environment variable HOOK_SECRET is not set/);
    env.HOOK_SECRET = " abc ";
    expect(secret.resolve()).toBe("abc");
    // Kept after the first read: webhook verification is hot, and a change takes a restart.
    env.HOOK_SECRET = "changed";
    expect(secret.resolve()).toBe("abc");
  });

  it("prints as the variable's name, never the value, however the config is shown", () => {
    const secret = secretFromEnv("HOOK_SECRET", { HOOK_SECRET: "s3cr3t-value" });
    secret.resolve();
    const shown = [String(secret), JSON.stringify({ secrets: [secret] }), inspect(secret), `${secret}`].join("\n");
    expect(shown).toContain('secretFromEnv("HOOK_SECRET")');
    expect(shown).not.toContain("s3cr3t-value");
  });

  it("refuses what cannot be a variable name, when the config loads", () => {
    expect(() => secretFromEnv("sk_live_123 abc")).toThrow(/needs the name of an environment variable/);
  });
});

describe("assertSecretsSet (tenon start, tenon dev)", () => {
  it("names every unset variable and where the config uses it", () => {
    const env = { SET_ONE: "x" };
    const config = {
      integrations: [],
      webhooks: {
        store: { provider: "shopify" as const, secrets: [secretFromEnv("STORE_SECRET", env)] },
        pay: { provider: "stripe" as const, secrets: ["whsec_literal", secretFromEnv("SET_ONE", env)] },
      },
      connections: {
        crm: {
          baseUrl: "https://crm.example.com",
          credentials: { clientId: "id", clientSecret: secretFromEnv("CRM_SECRET", env) },
        },
        erp: { baseUrl: "https://erp.example.com", credentials: { apiKey: secretFromEnv("STORE_SECRET", env) } },
      },
    };
    expect(() => assertSecretsSet(config, "tenon start")).toThrow(
      "tenon start needs every secret the config reads from the environment, and these variables are not set: " +
        "STORE_SECRET (webhooks.store.secrets[0], connections.erp.credentials.apiKey), " +
        "CRM_SECRET (connections.crm.credentials.clientSecret)",
    );
    expect(() =>
      assertSecretsSet({ integrations: [], webhooks: { pay: config.webhooks.pay } }, "tenon start"),
    ).not.toThrow();
  });
});

describe("a secret whose variable is unset, at use (SQLite)", () => {
  const t = useTestStorage(sqliteBackend);
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it("a webhook to that source gets 503 and nothing is stored; once the variable is set, the next delivery is accepted", async () => {
    const env: Record<string, string> = {};
    const { logger, lines } = recordingLogger();
    const engine = testEngine({ storage: t.storage, integrations: [], worker: false });
    await engine.start();
    const http = await startTestServer(engine, {
      logger,
      sources: { payments: { provider: "stripe", secrets: [secretFromEnv("PAYMENTS_WEBHOOK_SECRET", env)] } },
    });
    cleanups.push(
      () => engine.stop(),
      () => http.server.close(),
    );

    const refused = await http.post("/hooks/payments", stripeRequest("evt_1"));
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("60");
    expect(refused.json.error).toBe("source_misconfigured");
    // The caller on the internet learns nothing of the configuration; the operator's log names the variable.
    expect(refused.text).not.toContain("PAYMENTS_WEBHOOK_SECRET");
    expect(lines.join("\n")).toContain(
      'webhook source \\"payments\\" cannot verify requests: the environment variable PAYMENTS_WEBHOOK_SECRET',
    );
    expect(await t.storage.listEvents({ limit: 10 })).toEqual([]);

    env.PAYMENTS_WEBHOOK_SECRET = secrets.stripe;
    const accepted = await http.post("/hooks/payments", stripeRequest("evt_1"));
    expect(accepted.status, accepted.text).toBe(200);
    expect(lines.join("\n")).not.toContain(secrets.stripe);
  });

  it("a run that needs the connection waits without using an attempt, marks nothing failed, and goes on once the variable is set", async () => {
    const env: Record<string, string> = {};
    const api = new ApiTestServer();
    await api.start();
    cleanups.push(() => api.close());
    api.respond = () => ({ status: 200, body: { ok: true } });
    const { logger, lines } = recordingLogger();
    const connections = testConnections(
      t.storage,
      {
        crm: {
          baseUrl: api.origin,
          auth: { type: "apiKey", in: "header", name: "X-Api-Key" },
          credentials: { apiKey: secretFromEnv("CRM_API_KEY", env) },
        },
      },
      { logger },
    );
    const calls = defineIntegration({
      id: "calls-crm",
      trigger: { event: "call" },
      run: ({ step, connection }) => step.run("call", async () => (await connection("crm").get("/contacts")).status),
    });
    const engine = testEngine({ storage: t.storage, integrations: [calls], connections, logger });
    await engine.start();
    cleanups.push(() => engine.stop());

    const { runIds } = await engine.send({ type: "call", payload: {} });
    const runId = runIds[0] as string;
    const waiting = await waitForRunStatus(t.storage, runId, "waiting");
    expect(waiting.failures).toBe(0);
    expect(waiting.waitingOn).toBe("crm");
    expect(waiting.lastError).toContain(
      'connection "crm": credentials.apiKey is read from the environment variable CRM_API_KEY, which is not set in this process',
    );
    expect(api.requests).toHaveLength(0);
    // Another worker may have the variable: the shared connection state stays active.
    expect((await connections.describe("crm")).status).toBe("active");
    expect(lines.join("\n")).toContain("CRM_API_KEY");

    env.CRM_API_KEY = "crm-key-Z8pQ4wXe";
    await engine.replay(runId);
    const done = await waitForRunStatus(t.storage, runId, "succeeded");
    expect(done.failures).toBe(0);
    expect(api.requests[0]?.headers["x-api-key"]).toBe("crm-key-Z8pQ4wXe");
    await waitFor("the audit record", async () => (await t.storage.connections.listAudit({ limit: 5 })).length > 0);
    const audit = JSON.stringify(await t.storage.connections.listAudit({ limit: 5 }));
    expect(audit).not.toContain("crm-key-Z8pQ4wXe");
    expect(lines.join("\n")).not.toContain("crm-key-Z8pQ4wXe");
  });
});
