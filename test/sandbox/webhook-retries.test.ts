import { Webhook } from "standardwebhooks";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Sandbox, SandboxSystemFactory } from "../../src/sandbox/create-sandbox.ts";
import { builtInSystems } from "../../src/sandbox/systems/index.ts";
import { createScheduling } from "../../src/sandbox/systems/scheduling.ts";
import { createStore } from "../../src/sandbox/systems/store.ts";
import type { WebhookDeliveryState } from "../../src/sandbox/webhook-sender.ts";
import { startTestSandbox } from "../support/sandbox.ts";
import { waitFor } from "../support/wait.ts";
import { WebhookReceiver } from "../support/webhook-receiver.ts";

interface WebhooksState {
  retries: { schedule: string; delays: string[]; timeScale: number };
  delivered: number;
  pending: number;
  failed: number;
  deliveries: Record<"pending" | "failed" | "delivered", WebhookDeliveryState[]>;
}

let receiver: WebhookReceiver;
let sandbox: Sandbox | undefined;

beforeEach(async () => {
  receiver = new WebhookReceiver();
  await receiver.start();
});

afterEach(async () => {
  await sandbox?.close();
  sandbox = undefined;
  await receiver.close();
});

const factories: Record<"store" | "scheduling", SandboxSystemFactory> = {
  store: (context) => createStore(context),
  scheduling: (context) => createScheduling(context),
};

async function start(system: "store" | "scheduling", webhookTimeScale: number): Promise<void> {
  sandbox = await startTestSandbox(
    { [system]: factories[system] },
    { webhookUrls: { [system]: `${receiver.origin}/hooks/${system}` }, webhookTimeScale },
  );
}

async function control(path: string): Promise<{ status: number; json: unknown }> {
  const response = await fetch(`${sandbox?.url}/_sandbox/${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: "{}",
  });
  return { status: response.status, json: await response.json() };
}

async function webhooksState(system: string): Promise<WebhooksState> {
  const state = (await (await fetch(`${sandbox?.url}/_sandbox/${system}/state`)).json()) as { webhooks: WebhooksState };
  return state.webhooks;
}

describe("the sandbox's webhook retries", () => {
  it("each system follows its provider's documented schedule", async () => {
    sandbox = await startTestSandbox(builtInSystems);
    const schedules = Object.fromEntries(
      await Promise.all(
        ["store", "payments", "scheduling"].map(async (system) => [system, (await webhooksState(system)).retries]),
      ),
    );
    expect(schedules.store).toMatchObject({ schedule: expect.stringMatching(/^Shopify/), timeScale: 1 });
    expect(schedules.store.delays).toHaveLength(8);
    expect(schedules.store.delays.at(-1)).toBe("2h");
    expect(schedules.payments.schedule).toMatch(/^Stripe/);
    expect(schedules.scheduling.delays).toEqual(["5s", "5m", "30m", "2h", "5h", "10h", "10h"]);
  });

  it("retries an order's webhook through a 5-minute outage of the receiver and delivers it once, under one id", async () => {
    receiver.unavailable = true;
    // A minute of Shopify's schedule passes in 100 ms. It retries after 1, 2, 4, 8, … minutes.
    await start("store", 600);
    expect((await control("store/orders")).status).toBe(201);

    // The fourth attempt comes 7 minutes after the first: the outage has lasted longer than 5 minutes.
    // Between attempts, not during one: while an attempt is in flight it has no next attempt time yet.
    const during = await waitFor("four refused attempts", async () => {
      const [pending] = (await webhooksState("store")).deliveries.pending;
      return pending && pending.attempts >= 4 && pending.nextAttemptAt !== null ? pending : undefined;
    });
    expect(during).toMatchObject({ topic: "orders/create", status: "pending", lastStatus: 503 });
    expect(Date.parse(during.nextAttemptAt ?? "")).toBeGreaterThan(Date.parse(during.lastAttemptAt ?? ""));
    receiver.unavailable = false;

    const state = await waitFor("the delivery", async () => {
      const webhooks = await webhooksState("store");
      return webhooks.delivered === 1 ? webhooks : undefined;
    });
    expect(state).toMatchObject({ pending: 0, failed: 0 });
    expect(state.deliveries.delivered).toEqual([
      expect.objectContaining({ id: during.id, status: "delivered", attempts: receiver.received.length }),
    ]);
    expect(receiver.received.map((request) => request.headers["x-shopify-webhook-id"])).toEqual(
      receiver.received.map(() => during.id),
    );
    expect(receiver.received.filter((request) => request.answered < 300)).toHaveLength(1);
    expect(receiver.received.at(-1)?.answered).toBe(204);
  });

  it("marks a message failed once the schedule is spent, and redelivers it on request under the same id", async () => {
    receiver.unavailable = true;
    // Standard Webhooks' 27.5 hours of retries in about a second.
    await start("scheduling", 100_000);
    await control("scheduling/appointments");
    const failed = await waitFor(
      "the schedule spent",
      async () => (await webhooksState("scheduling")).deliveries.failed[0],
    );
    expect(failed).toMatchObject({ status: "failed", attempts: 8, lastStatus: 503, nextAttemptAt: null });
    expect(receiver.received).toHaveLength(8);

    // A redelivery is one attempt: refused, the message is failed again, not retried on a schedule.
    expect(await control(`scheduling/webhooks/${failed.id}/redeliver`)).toMatchObject({
      status: 202,
      json: { id: failed.id, status: "pending", redeliveries: 1 },
    });
    await waitFor("the refused redelivery", async () => {
      const [again] = (await webhooksState("scheduling")).deliveries.failed;
      return again?.attempts === 9;
    });

    receiver.unavailable = false;
    await control(`scheduling/webhooks/${failed.id}/redeliver`);
    const state = await waitFor("the redelivery", async () => {
      const webhooks = await webhooksState("scheduling");
      return webhooks.delivered === 1 ? webhooks : undefined;
    });
    expect(state).toMatchObject({ pending: 0, failed: 0 });
    expect(state.deliveries.delivered[0]).toMatchObject({ id: failed.id, attempts: 10, redeliveries: 2 });
    const delivered = receiver.received.at(-1);
    expect(receiver.received).toHaveLength(10);
    expect(delivered?.headers["webhook-id"]).toBe(failed.id);
    expect(delivered?.body).toBe(receiver.received[0]?.body);
    const secret = sandbox?.credentials("scheduling").webhookSecret as string;
    expect(new Webhook(secret).verify(delivered?.body ?? "", delivered?.headers ?? {})).toMatchObject({
      type: "appointment.completed",
    });
  });

  it("answers 404 for a message it does not know", async () => {
    await start("scheduling", 1);
    expect(await control("scheduling/webhooks/msg_unknown/redeliver")).toMatchObject({
      status: 404,
      json: { error: "not_found" },
    });
  });
});
