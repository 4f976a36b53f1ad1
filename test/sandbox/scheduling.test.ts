import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { standardWebhooksProvider } from "../../src/ingestion/webhooks/providers/standard-webhooks.ts";
import type { Sandbox } from "../../src/sandbox/create-sandbox.ts";
import { createScheduling, type SchedulingSystem } from "../../src/sandbox/systems/scheduling.ts";
import { startTestSandbox } from "../support/sandbox.ts";
import { waitFor } from "../support/wait.ts";
import { WebhookReceiver } from "../support/webhook-receiver.ts";

// biome-ignore lint/suspicious/noExplicitAny: an answer's JSON, which the assertions check
type Json = any;
const read = (response: Response | Promise<Response>): Promise<Json> => Promise.resolve(response).then((r) => r.json());

let sandbox: Sandbox;
let scheduling: SchedulingSystem;
let receiver: WebhookReceiver;
let token: string;
let secret: string;

const api = (path: string) => `${sandbox.baseUrl("scheduling")}/v1${path}`;

function call(path: string, init: { method?: string; json?: unknown; authorization?: string } = {}) {
  return fetch(api(path), {
    method: init.method ?? "GET",
    headers: {
      authorization: init.authorization ?? `Bearer ${token}`,
      ...(init.json !== undefined ? { "content-type": "application/json" } : {}),
    },
    ...(init.json !== undefined ? { body: JSON.stringify(init.json) } : {}),
  });
}

const booking = {
  customer: { name: "Ada Lovelace", email: "ada@example.com", phone: "+14155550123" },
  service: "Haircut",
  price: "45.00",
  currency: "USD",
  starts_at: "2025-06-02T09:00:00Z",
  ends_at: "2025-06-02T09:45:00Z",
};

beforeAll(async () => {
  receiver = new WebhookReceiver();
  await receiver.start();
  sandbox = await startTestSandbox(
    { scheduling: (context) => createScheduling(context) },
    // A minute of the provider's retry schedule passes in 100 ms.
    { webhookUrls: { scheduling: `${receiver.origin}/hooks/scheduling` }, webhookTimeScale: 600 },
  );
  scheduling = sandbox.system<SchedulingSystem>("scheduling");
  ({ token, webhookSecret: secret } = sandbox.credentials("scheduling") as { token: string; webhookSecret: string });
});

beforeEach(() => {
  receiver.received.length = 0;
  receiver.failures = 0;
});

afterAll(async () => {
  await sandbox.close();
  await receiver.close();
});

describe("scheduling sandbox (appointments API v1)", () => {
  it("books an appointment and reads it back", async () => {
    const created = await call("/appointments", { method: "POST", json: booking });
    expect(created.status).toBe(201);
    const appointment = await read(created);
    expect(appointment).toMatchObject({
      id: expect.stringMatching(/^apt_/),
      status: "booked",
      ...booking,
      completed_at: null,
    });
    expect(await read(call(`/appointments/${appointment.id}`))).toEqual(appointment);
  });

  it("refuses a missing or wrong API key with 401", async () => {
    const response = await call("/appointments", { authorization: "Bearer wrong" });
    expect(response.status).toBe(401);
    expect(await read(response)).toMatchObject({ error: { type: "unauthorized" } });
    expect((await call("/appointments", { authorization: "" })).status).toBe(401);
  });

  it("validates a booking with 422 naming the field", async () => {
    const response = await call("/appointments", {
      method: "POST",
      json: { ...booking, customer: { ...booking.customer, phone: "555-0123" } },
    });
    expect(response.status).toBe(422);
    expect(await read(response)).toMatchObject({ error: { type: "invalid_request", param: "customer.phone" } });
    const price = await call("/appointments", { method: "POST", json: { ...booking, price: 45 } });
    expect(await read(price)).toMatchObject({ error: { param: "price" } });
  });

  it("completes an appointment and sends appointment.completed signed per Standard Webhooks", async () => {
    const { id } = await read(call("/appointments", { method: "POST", json: booking }));
    receiver.failures = 1;
    const completed = await read(call(`/appointments/${id}/complete`, { method: "POST" }));
    expect(completed).toMatchObject({ id, status: "completed", completed_at: expect.any(String) });

    await waitFor("the webhook to be retried and delivered", () => receiver.received.length === 2);
    const [first, retry] = receiver.received;
    expect(retry?.headers["webhook-id"]).toMatch(/^msg_/);
    expect(retry?.headers["webhook-id"]).toBe(first?.headers["webhook-id"]);
    expect(retry?.body).toBe(first?.body);

    for (const delivery of receiver.received) {
      const body = JSON.parse(delivery.body);
      expect(body).toMatchObject({ type: "appointment.completed", timestamp: expect.any(String), data: completed });
      expect(new Webhook(secret).verify(delivery.body, delivery.headers)).toEqual(body);
      const request = {
        method: "POST",
        url: `${receiver.origin}/hooks/scheduling`,
        headers: delivery.headers,
        rawBody: Buffer.from(delivery.body),
      };
      expect(standardWebhooksProvider.verify(request, { secrets: [secret], now: Date.now() })).toEqual({ ok: true });
      expect(standardWebhooksProvider.parse(request).events[0]).toMatchObject({
        type: "appointment.completed",
        dedupKey: delivery.headers["webhook-id"],
      });
    }
  });

  it("completing an appointment twice changes nothing and sends one webhook", async () => {
    const { id } = await read(call("/appointments", { method: "POST", json: booking }));
    const once = await read(call(`/appointments/${id}/complete`, { method: "POST" }));
    const twice = await read(call(`/appointments/${id}/complete`, { method: "POST" }));
    expect(twice).toEqual(once);
    await sandbox.webhooks("scheduling").drain();
    expect(receiver.received).toHaveLength(1);
  });

  it("lists appointments by status and by last change, oldest change first", async () => {
    const since = new Date().toISOString();
    const booked = await read(call("/appointments", { method: "POST", json: booking }));
    const done = scheduling.completeAppointment();

    const ids = (list: { data: { id: string }[] }) => list.data.map((appointment) => appointment.id);
    const completed = await read(call(`/appointments?status=completed&updated_since=${since}`));
    expect(completed).toMatchObject({ object: "list", has_more: false });
    expect(ids(completed)).toContain(done.id);
    expect(ids(completed)).not.toContain(booked.id);

    const all = await read(call(`/appointments?updated_since=${since}`));
    expect(ids(all).slice(-2)).toEqual([booked.id, done.id]);

    const limited = await read(call("/appointments?limit=1"));
    expect(limited).toMatchObject({ has_more: true });
    expect((await call("/appointments?status=lost")).status).toBe(422);
  });

  it("a simulated visit books and completes a realistic appointment and fires the webhook", async () => {
    const response = await fetch(`${sandbox.url}/_sandbox/scheduling/appointments`, { method: "POST" });
    expect(response.status).toBe(201);
    const appointment = await read(response);
    expect(appointment).toMatchObject({
      status: "completed",
      customer: {
        name: expect.any(String),
        email: expect.stringMatching(/@example\.com$/),
        phone: expect.stringMatching(/^\+1\d{10}$/),
      },
      service: expect.any(String),
      price: expect.stringMatching(/^\d+\.\d{2}$/),
      currency: "USD",
    });
    await waitFor("the webhook", () => receiver.received.length === 1);
    expect(JSON.parse(receiver.received[0]?.body ?? "{}").data.id).toBe(appointment.id);

    const chosen = await fetch(`${sandbox.url}/_sandbox/scheduling/appointments`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ service: "Beard trim", price: "25.00", customer: { email: "grace@example.com" } }),
    });
    expect(await read(chosen)).toMatchObject({
      service: "Beard trim",
      price: "25.00",
      customer: { email: "grace@example.com" },
    });
  });

  it("keeps appointments and counters in its state, and gives a token and a webhook secret", async () => {
    const state = await read(fetch(`${sandbox.url}/_sandbox/scheduling/state`));
    expect(state.appointments).toHaveLength(scheduling.appointments().length);
    expect(state.completed).toBeGreaterThan(0);
    expect(JSON.stringify(state)).not.toContain(token);
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/=]+$/);
  });
});
