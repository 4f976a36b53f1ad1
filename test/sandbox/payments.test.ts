import Stripe from "stripe";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stripeProvider } from "../../src/ingestion/webhooks/providers/stripe.ts";
import { createSandbox, type Sandbox } from "../../src/sandbox/create-sandbox.ts";
import { createPayments, type Payments } from "../../src/sandbox/systems/payments.ts";
import { ApiTestServer, type RecordedRequest } from "../support/api-server.ts";
import { ManualClock } from "../support/clock.ts";
import { startTestSandbox } from "../support/sandbox.ts";
import { waitFor } from "../support/wait.ts";

// biome-ignore lint/suspicious/noExplicitAny: an answer's JSON, which the assertions check
type Json = any;
const read = (response: Response | Promise<Response>): Promise<Json> => Promise.resolve(response).then((r) => r.json());

let sandbox: Sandbox;
let receiver: ApiTestServer;
let secretKey: string;
let webhookSecret: string;

interface Call {
  method?: string;
  form?: Record<string, string>;
  headers?: Record<string, string>;
}

function stripeCall(base: () => string, key: () => string) {
  return (path: string, call: Call = {}) =>
    fetch(`${base()}${path}`, {
      method: call.method ?? (call.form ? "POST" : "GET"),
      headers: {
        authorization: `Bearer ${key()}`,
        ...(call.form ? { "content-type": "application/x-www-form-urlencoded" } : {}),
        ...call.headers,
      },
      ...(call.form ? { body: new URLSearchParams(call.form).toString() } : {}),
    });
}

const api = stripeCall(
  () => sandbox.baseUrl("payments"),
  () => secretKey,
);
const order = { amount: "2500", currency: "usd", "metadata[order_id]": "1001" };

function webhookRequest(delivery: RecordedRequest) {
  return {
    method: "POST",
    url: `${receiver.origin}/hooks/payments`,
    headers: Object.fromEntries(Object.entries(delivery.headers).map(([name, value]) => [name, String(value)])),
    rawBody: Buffer.from(delivery.body),
  };
}

beforeAll(async () => {
  receiver = new ApiTestServer();
  await receiver.start();
  sandbox = await startTestSandbox(
    { payments: (context) => createPayments(context) },
    // A minute of the provider's retry schedule passes in 100 ms.
    { webhookUrls: { payments: `${receiver.origin}/hooks/payments` }, webhookTimeScale: 600 },
  );
  ({ token: secretKey, webhookSecret } = sandbox.credentials("payments") as { token: string; webhookSecret: string });
});

afterAll(async () => {
  await sandbox.close();
  await receiver.close();
});

describe("payments sandbox (Stripe-like)", () => {
  it("hands out a test-mode secret key and a webhook signing secret", () => {
    expect(secretKey).toMatch(/^sk_test_[A-Za-z0-9]+$/);
    expect(webhookSecret).toMatch(/^whsec_/);
  });

  it("takes the secret key as a Bearer token or as the Basic username, and answers 401 as Stripe does otherwise", async () => {
    const basic = await fetch(`${sandbox.baseUrl("payments")}/v1/events`, {
      headers: { authorization: `Basic ${Buffer.from(`${secretKey}:`).toString("base64")}` },
    });
    expect(basic.status).toBe(200);

    const none = await fetch(`${sandbox.baseUrl("payments")}/v1/events`);
    expect(none.status).toBe(401);
    expect((await read(none)).error).toMatchObject({
      type: "invalid_request_error",
      message: expect.stringContaining("You did not provide an API key"),
    });

    const wrong = await fetch(`${sandbox.baseUrl("payments")}/v1/events`, {
      headers: { authorization: "Bearer sk_test_0000000000000000wxyz" },
    });
    expect(wrong.status).toBe(401);
    expect((await read(wrong)).error.message).toMatch(/^Invalid API Key provided: sk_test_\*+wxyz$/);
  });

  it("creates a PaymentIntent from form parameters, metadata in brackets, and echoes the Stripe-Version", async () => {
    const response = await api("/v1/payment_intents", {
      form: order,
      headers: { "stripe-version": "2025-09-30.clover" },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("stripe-version")).toBe("2025-09-30.clover");
    expect(response.headers.get("request-id")).toMatch(/^req_/);
    expect(await read(response)).toMatchObject({
      id: expect.stringMatching(/^pi_/),
      object: "payment_intent",
      amount: 2500,
      amount_received: 0,
      currency: "usd",
      status: "requires_payment_method",
      metadata: { order_id: "1001" },
      client_secret: expect.stringMatching(/^pi_\w+_secret_\w+$/),
      livemode: false,
    });
  });

  it("validates parameters with invalid_request_error bodies naming the param", async () => {
    const missing = await api("/v1/payment_intents", { form: { currency: "usd" } });
    expect(missing.status).toBe(400);
    expect((await read(missing)).error).toMatchObject({
      type: "invalid_request_error",
      message: "Missing required param: amount.",
      param: "amount",
    });
    const unknown = await api("/v1/payment_intents", { form: { ...order, colour: "blue" } });
    expect((await read(unknown)).error).toMatchObject({
      message: "Received unknown parameter: colour",
      param: "colour",
    });
    const small = await api("/v1/payment_intents", { form: { amount: "10", currency: "usd" } });
    expect((await read(small)).error).toMatchObject({ code: "amount_too_small", param: "amount" });
    const absent = await api("/v1/payment_intents/pi_missing");
    expect(absent.status).toBe(404);
    expect((await read(absent)).error).toMatchObject({
      code: "resource_missing",
      message: "No such payment_intent: 'pi_missing'",
    });
  });

  it("confirms a PaymentIntent: succeeded, a payment_intent.succeeded event, sent as a webhook both verifiers accept", async () => {
    const created = await read(api("/v1/payment_intents", { form: order }));
    const confirmed = await api(`/v1/payment_intents/${created.id}/confirm`, {
      form: { payment_method: "pm_card_visa" },
      headers: { "idempotency-key": "confirm-1001" },
    });
    expect(confirmed.status).toBe(200);
    const intent = await read(confirmed);
    expect(intent).toMatchObject({
      status: "succeeded",
      amount_received: 2500,
      payment_method: expect.stringMatching(/^pm_/),
    });
    expect(intent.latest_charge).toMatch(/^ch_/);

    const listed = await read(api("/v1/events?type=payment_intent.succeeded&limit=1"));
    expect(listed).toMatchObject({ object: "list", has_more: expect.any(Boolean), url: "/v1/events" });
    const [event] = listed.data;
    expect(event).toMatchObject({
      id: expect.stringMatching(/^evt_/),
      object: "event",
      type: "payment_intent.succeeded",
      api_version: expect.any(String),
      created: expect.any(Number),
      livemode: false,
      pending_webhooks: 1,
      request: { id: confirmed.headers.get("request-id"), idempotency_key: "confirm-1001" },
      data: { object: { id: created.id, status: "succeeded" } },
    });
    expect(await read(api(`/v1/events/${event.id}`))).toEqual(event);

    const delivery = await waitFor("the payment_intent.succeeded webhook", () =>
      receiver.requests.find((request) => JSON.parse(request.body).id === event.id),
    );
    const webhook = webhookRequest(delivery);
    expect(stripeProvider.verify(webhook, { secrets: [webhookSecret], now: Date.now() })).toEqual({ ok: true });
    expect(stripeProvider.parse(webhook).events[0]).toMatchObject({
      type: "payment_intent.succeeded",
      dedupKey: event.id,
    });
    const constructed = new Stripe("sk_test_unused").webhooks.constructEvent(
      delivery.body,
      String(delivery.headers["stripe-signature"]),
      webhookSecret,
    );
    expect(constructed.id).toBe(event.id);
  });

  it("declines the test card pm_card_chargeDeclined with a 402 card_error and a payment_failed event", async () => {
    const created = await read(api("/v1/payment_intents", { form: order }));
    const declined = await api(`/v1/payment_intents/${created.id}/confirm`, {
      form: { payment_method: "pm_card_chargeDeclined" },
    });
    expect(declined.status).toBe(402);
    expect((await read(declined)).error).toMatchObject({ type: "card_error", code: "card_declined" });
    const failed = await read(api("/v1/events?type=payment_intent.payment_failed"));
    expect(failed.data[0].data.object).toMatchObject({ id: created.id, status: "requires_payment_method" });
  });

  it("simulates a customer paying: create and confirm in one, with the webhook, through the control route", async () => {
    const response = await fetch(`${sandbox.url}/_sandbox/payments/payment_intents`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ amount: 4200, currency: "eur", metadata: { invoice_number: "S-1042" } }),
    });
    const intent = await read(response);
    expect(intent).toMatchObject({
      status: "succeeded",
      amount: 4200,
      currency: "eur",
      metadata: { invoice_number: "S-1042" },
    });
    const delivery = await waitFor("the webhook of the customer's payment", () =>
      receiver.requests.find((request) => JSON.parse(request.body).data.object.id === intent.id),
    );
    const event = JSON.parse(delivery.body);
    expect(event).toMatchObject({ type: "payment_intent.succeeded", request: { id: null, idempotency_key: null } });
  });

  it("lists PaymentIntents newest first, a page at a time after starting_after, as Stripe's list does", async () => {
    const created: string[] = [];
    for (let i = 0; i < 3; i += 1) created.push((await read(api("/v1/payment_intents", { form: order }))).id);
    const first = await read(api("/v1/payment_intents?limit=2"));
    expect(first).toMatchObject({ object: "list", has_more: true, url: "/v1/payment_intents" });
    expect(first.data.map((intent: { id: string }) => intent.id)).toEqual([created[2], created[1]]);
    expect(first.data[0]).toMatchObject({ object: "payment_intent", amount: 2500, status: "requires_payment_method" });
    const next = await read(api(`/v1/payment_intents?limit=2&starting_after=${created[1]}`));
    expect(next.data[0].id).toBe(created[0]);
    const unknown = await api("/v1/payment_intents?starting_after=pi_nope");
    expect(unknown.status).toBe(400);
    expect(await read(unknown)).toMatchObject({ error: { code: "resource_missing", type: "invalid_request_error" } });
    const badLimit = await api("/v1/payment_intents?limit=101");
    expect(badLimit.status).toBe(400);
    expect(await read(badLimit)).toMatchObject({ error: { code: "parameter_invalid_integer", param: "limit" } });
  });

  it("signs every delivery attempt afresh, keeping the event id", async () => {
    let refused = false;
    receiver.respond = (request) => {
      if (refused || JSON.parse(request.body).data.object.metadata.attempt !== "refused-once") return { status: 200 };
      refused = true;
      return { status: 503 };
    };
    const intent = sandbox.system<Payments>("payments").customerPays({
      amount: 900,
      currency: "usd",
      metadata: { attempt: "refused-once" },
    });
    const [first, second] = await waitFor("a redelivery", () => {
      const found = receiver.requests.filter((request) => JSON.parse(request.body).data.object.id === intent.id);
      return found.length >= 2 ? found : undefined;
    });
    expect(second?.body).toBe(first?.body);
    for (const delivery of [first, second]) {
      const verified = stripeProvider.verify(webhookRequest(delivery as RecordedRequest), {
        secrets: [webhookSecret],
        now: Date.now(),
      });
      expect(verified).toEqual({ ok: true });
    }
  });
});

describe("payments sandbox idempotency (Stripe's semantics)", () => {
  it("replays the first answer for the same key and parameters, with Idempotent-Replayed: true, making nothing new", async () => {
    const headers = { "idempotency-key": "order-2001" };
    const first = await api("/v1/payment_intents", { form: { ...order, "metadata[order_id]": "2001" }, headers });
    const replay = await api("/v1/payment_intents", { form: { ...order, "metadata[order_id]": "2001" }, headers });
    expect(replay.status).toBe(first.status);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    const [original, replayed] = [await read(first), await read(replay)];
    expect(replayed).toEqual(original);
    const made = sandbox.system<Payments>("payments").state().paymentIntents;
    expect(made.filter((intent) => intent.metadata.order_id === "2001")).toHaveLength(1);
  });

  it("refuses the same key with other parameters, or on another path, with an idempotency_error", async () => {
    const headers = { "idempotency-key": "order-2002" };
    await api("/v1/payment_intents", { form: order, headers });
    const changed = await api("/v1/payment_intents", { form: { ...order, amount: "2600" }, headers });
    expect(changed.status).toBe(400);
    expect(await read(changed)).toEqual({
      error: {
        type: "idempotency_error",
        message:
          "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than 'order-2002' if you meant to execute a different request.",
      },
    });
    const created = await read(api("/v1/payment_intents", { form: order }));
    const otherPath = await api(`/v1/payment_intents/${created.id}/confirm`, { form: order, headers });
    expect((await read(otherPath)).error.type).toBe("idempotency_error");
  });

  it("answers 409 idempotency_key_in_use while the first request with the key is still being processed", async () => {
    sandbox.setFaults("payments", { latencyMs: 1500 });
    try {
      const headers = { "idempotency-key": "order-2003" };
      const seen = sandbox.requests("payments").length;
      const first = api("/v1/payment_intents", { form: order, headers });
      await waitFor("the first request to arrive", () => sandbox.requests("payments").length > seen);
      const second = await api("/v1/payment_intents", { form: order, headers });
      expect(second.status).toBe(409);
      expect((await read(second)).error).toMatchObject({ type: "idempotency_error", code: "idempotency_key_in_use" });
      expect((await first).status).toBe(200);
    } finally {
      sandbox.setFaults("payments", { latencyMs: null });
    }
  });

  it("keeps the answer when an injected 5xx replaces it after processing, so the retry gets it", async () => {
    sandbox.setFaults("payments", { errorRate: 1, errorTiming: "after" });
    const headers = { "idempotency-key": "order-2004" };
    const lost = await api("/v1/payment_intents", { form: order, headers });
    sandbox.setFaults("payments", { errorRate: null, errorTiming: null });
    expect(lost.status).toBeGreaterThanOrEqual(500);
    const retried = await api("/v1/payment_intents", { form: order, headers });
    expect(retried.status).toBe(200);
    expect(retried.headers.get("idempotent-replayed")).toBe("true");
  });

  it("forgets keys after 24 hours: the same key then makes a new PaymentIntent", async () => {
    const clock = new ManualClock();
    const timed = createSandbox({ systems: { payments: createPayments }, now: () => clock.now() });
    await timed.listen();
    try {
      const call = stripeCall(
        () => timed.baseUrl("payments"),
        () => timed.credentials("payments").token as string,
      );
      const headers = { "idempotency-key": "daily-1" };
      const first = await read(call("/v1/payment_intents", { form: order, headers }));
      clock.advance(23 * 3_600_000);
      const sameDay = await call("/v1/payment_intents", { form: order, headers });
      expect((await read(sameDay)).id).toBe(first.id);
      clock.advance(2 * 3_600_000);
      const nextDay = await call("/v1/payment_intents", { form: order, headers });
      expect(nextDay.headers.get("idempotent-replayed")).toBeNull();
      expect((await read(nextDay)).id).not.toBe(first.id);
    } finally {
      await timed.close();
    }
  });

  it("drops keys once their 24 hours have passed, so hours of traffic do not grow its memory", async () => {
    const clock = new ManualClock();
    const timed = createSandbox({ systems: { payments: createPayments }, now: () => clock.now() });
    await timed.listen();
    try {
      const call = stripeCall(
        () => timed.baseUrl("payments"),
        () => timed.credentials("payments").token as string,
      );
      const payments = timed.system<Payments>("payments");
      const create = (key: string) => call("/v1/payment_intents", { form: order, headers: { "idempotency-key": key } });
      await create("old-1");
      await create("old-2");
      clock.advance(12 * 3_600_000);
      await create("recent");
      expect(payments.state().counters.idempotencyKeys).toBe(3);
      clock.advance(13 * 3_600_000);
      await create("new");
      expect(payments.state().counters.idempotencyKeys).toBe(2);
      expect(payments.counts()).toEqual({ paymentIntents: 4, events: 4 });
    } finally {
      await timed.close();
    }
  });
});
