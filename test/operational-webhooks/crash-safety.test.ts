import { afterEach, describe, expect, it } from "vitest";
import type { AlertNotification } from "../../src/alerting/notification.ts";
import type { Connections } from "../../src/connections/connections.ts";
import type { Engine } from "../../src/engine/engine.ts";
import {
  createOperationalWebhooks,
  defaultSettleMs,
  pumpEveryMs,
} from "../../src/operational-webhooks/operational-webhooks.ts";
import type { Storage } from "../../src/storage/contract.ts";
import type { OperationalWebhookStore } from "../../src/storage/operational-webhook-store.ts";
import { backends, useTestStorage } from "../support/backends.ts";
import { ManualClock } from "../support/clock.ts";
import { testConnections } from "../support/connections.ts";
import { endRuns } from "../support/ended-runs.ts";
import { silentLogger, testEngine } from "../support/engine.ts";
import { StandardWebhookReceiver } from "../support/standard-webhook-receiver.ts";
import { waitFor } from "../support/wait.ts";

const secret = `whsec_${Buffer.from("crash-safety-signing-key-0123456789").toString("base64")}`;

/** The storage, except that the pump's cursor cannot be moved while `crashing`: the process "dies" right there. */
function crashingBeforeCursorMoves(storage: Storage, state: { crashing: boolean }): Storage {
  const store = storage.operationalWebhooks;
  const webhooks = new Proxy(store, {
    get(target, property) {
      if (property === "moveCursor" && state.crashing) {
        return async () => {
          throw new Error("the process died before saving the cursor");
        };
      }
      const value = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  }) as OperationalWebhookStore;
  return new Proxy(storage, {
    get(target, property) {
      if (property === "operationalWebhooks") return webhooks;
      const value = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

describe.each(backends)("operational webhooks: crash safety ($name)", (backend) => {
  const t = useTestStorage(backend);
  const receiver = new StandardWebhookReceiver();
  let engine: Engine | undefined;
  let connections: Connections | undefined;

  afterEach(async () => {
    await engine?.stop({ deadlineMs: 0 });
    await connections?.stop();
    await receiver.close();
  });

  it("a pump that dies before saving its cursor reads the same window again and delivers nothing twice", async () => {
    const storage = t.storage;
    await storage.migrate();
    const clock = new ManualClock(Date.now());
    await receiver.start();
    const state = { crashing: true };
    const options = {
      config: { ops: { url: receiver.url, secrets: [secret], events: ["run.dead" as const, "alert.firing" as const] } },
      clock,
      logger: silentLogger,
      publicUrl: undefined,
      send: (event: Parameters<Engine["send"]>[0]) => (engine as Engine).send(event),
    };
    const first = createOperationalWebhooks({ ...options, storage: crashingBeforeCursorMoves(storage, state) });
    connections = testConnections(storage, first.connections, { clock });
    engine = testEngine({ storage, clock, connections, integrations: first.integrations });

    state.crashing = false;
    await first.pump.pumpOnce();
    state.crashing = true;
    // Ended before the worker starts: it would otherwise claim them (no integration "billing" is loaded here).
    const endedAt = clock.now();
    await endRuns(storage, "billing", "dead", 5, endedAt);
    await engine.start();
    clock.advance(defaultSettleMs);
    await expect(first.pump.pumpOnce()).rejects.toThrow("the process died before saving the cursor");
    await waitFor("five deliveries", () => receiver.accepted.length === 5);

    // Another process takes over once the dead one's lease lapses, from the cursor that was never moved.
    state.crashing = false;
    const second = createOperationalWebhooks({ ...options, storage });
    expect(await second.pump.pumpOnce()).toBe(false);
    clock.advance(3 * pumpEveryMs + 1);
    expect(await second.pump.pumpOnce()).toBe(true);
    expect((await storage.operationalWebhooks.getCursor("runs"))?.position.at).toBe(endedAt);

    // An alert notification sent again (the evaluator died before saving the alert) is the same delivery too.
    const notification: AlertNotification = {
      id: "0123456789abcdef.1.1",
      fingerprint: "0123456789abcdef",
      number: 1,
      episode: 1,
      status: "firing",
      rule: "run_dead",
      subject: "integration:billing",
      severity: "critical",
      summary: "5 dead runs of integration billing in the last 15 minutes",
      labels: { integration: "billing", status: "dead" },
      count: 5,
      startsAt: new Date(clock.now()).toISOString(),
      endsAt: null,
      link: "/api/runs?integration=billing&status=dead",
    };
    await first.tellAlert(notification);
    await second.tellAlert(notification);

    await waitFor("every delivery run to end", async () => {
      const runs = await storage.listRuns({ integrationId: "tenon-webhooks.ops" });
      return runs.length === 6 && runs.every((run) => run.status === "succeeded");
    });
    // Given time to deliver anything else it might have started.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const received = receiver.verified(secret);
    expect(received).toHaveLength(6);
    expect(new Set(received.map((delivery) => delivery.id)).size).toBe(6);
    expect(received.filter((delivery) => delivery.body.type === "run.dead")).toHaveLength(5);
    expect(new Set(received.map((d) => (d.body.data.run as { id: string } | undefined)?.id)).size).toBe(6);
  });
});
