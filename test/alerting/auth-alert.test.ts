import { afterEach, describe, expect, it } from "vitest";
import type { Connections } from "../../src/connections/connections.ts";
import { stripe } from "../../src/connectors/stripe/index.ts";
import type { Engine } from "../../src/engine/engine.ts";
import { createSandbox, type Sandbox } from "../../src/sandbox/create-sandbox.ts";
import { createPayments } from "../../src/sandbox/systems/payments.ts";
import { defineIntegration } from "../../src/sdk/define-integration.ts";
import { testAlertEvaluator } from "../support/alerts.ts";
import { backends, useTestStorage } from "../support/backends.ts";
import { ManualClock } from "../support/clock.ts";
import { testConnections } from "../support/connections.ts";
import { testEngine, waitForRunStatus } from "../support/engine.ts";
import { waitFor } from "../support/wait.ts";

const checkBalance = defineIntegration<{ n: number }>({
  id: "balance-check",
  trigger: { event: "balance.check" },
  run: async ({ step, connection }) => {
    await step.run("list events", () => connection("payments").get("/v1/events", { query: { limit: 1 } }));
  },
});

describe.each(backends)("an auth_failed alert from a revoked key ($name)", (backend) => {
  const t = useTestStorage(backend);
  let sandbox: Sandbox | undefined;
  let engine: Engine | undefined;
  let connections: Connections | undefined;

  afterEach(async () => {
    await engine?.stop({ deadlineMs: 0 });
    await connections?.stop();
    await sandbox?.close();
  });

  it("the sandbox revokes the key: one alert at the next evaluation; a new key: one resolved message", async () => {
    const storage = t.storage;
    const clock = new ManualClock(Date.now());
    sandbox = createSandbox({ systems: { payments: createPayments } });
    await sandbox.listen({ host: "127.0.0.1", port: 0 });
    const token = sandbox.credentials("payments").token as string;
    connections = testConnections(
      storage,
      { payments: stripe.connection({ baseUrl: sandbox.baseUrl("payments"), credentials: { token } }) },
      { clock },
    );
    engine = testEngine({ storage, clock, connections, integrations: [checkBalance] });
    await engine.start();
    const { alerts, sent } = testAlertEvaluator(
      storage,
      clock,
      { errorRate: false, consecutiveFailures: false },
      {
        connectionIds: ["payments"],
      },
    );

    sandbox.setFaults("payments", { revokeCredentials: true });
    const { runIds } = await engine.send({ type: "balance.check", payload: { n: 1 } });
    await waitForRunStatus(storage, runIds[0] as string, "paused");
    // Evaluated every 15 s: the first evaluation after the refusal tells it, within 60 s; later ones do not repeat it.
    for (let i = 0; i < 4; i++) {
      clock.advance(15_000);
      await alerts.evaluateOnce();
    }
    expect(sent.map((s) => [s.notification.rule, s.notification.status])).toEqual([["auth_failed", "firing"]]);
    expect(sent[0]?.notification.summary).toMatch(/^connection payments: its credentials were rejected/);
    expect(JSON.stringify(sent)).not.toContain(token);

    // A person restores access and stores the key again: the paused run resumes; the alert resolves, once.
    sandbox.setFaults("payments", { restoreCredentials: true });
    expect(await connections.setCredentials("payments", { token })).toBe(1);
    await waitForRunStatus(storage, runIds[0] as string, "succeeded");
    for (let i = 0; i < 3; i++) {
      clock.advance(15_000);
      await alerts.evaluateOnce();
    }
    await waitFor("the resolution", async () => (sent.length === 2 ? true : null));
    expect(sent.map((s) => [s.notification.rule, s.notification.status])).toEqual([
      ["auth_failed", "firing"],
      ["auth_failed", "resolved"],
    ]);
  });
});
