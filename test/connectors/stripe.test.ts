import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ResponseShapeError } from "../../src/connectors/define-connector.ts";
import {
  paymentIntentEventSchema,
  stripe,
  stripeApiVersion,
  stripeEventSchema,
} from "../../src/connectors/stripe/index.ts";
import type { Sandbox } from "../../src/sandbox/create-sandbox.ts";
import { createPayments, type Payments } from "../../src/sandbox/systems/payments.ts";
import { NonRetryableError } from "../../src/sdk/errors.ts";
import { connectToSandbox, type SandboxConnections, startTestSandbox } from "../support/sandbox.ts";

let sandbox: Sandbox;
let connections: SandboxConnections;
let client: ReturnType<typeof stripe.client>;
let secretKey: string;

beforeAll(async () => {
  sandbox = await startTestSandbox({ payments: (context) => createPayments(context) });
  secretKey = sandbox.credentials("payments").token as string;
  connections = await connectToSandbox({
    payments: stripe.connection({ baseUrl: sandbox.baseUrl("payments"), credentials: { token: secretKey } }),
  });
  client = stripe.client(connections.client("payments"));
});

beforeEach(() => {
  sandbox.setFaults("payments", { schemaChange: null });
});

afterAll(async () => {
  await connections.close();
  await sandbox.close();
});

const requestsSince = (count: number) => sandbox.requests("payments").slice(count);
const intentsMade = () => sandbox.system<Payments>("payments").state().paymentIntents.length;
const charge = { amount: 2500, currency: "USD", description: "Order #1001", metadata: { order_id: "1001" } };

describe("stripe connector", () => {
  it("is configured as Stripe documents: Bearer key, pinned Stripe-Version, Idempotency-Key, test-mode rate limit", () => {
    expect(stripe.connection({})).toMatchObject({
      baseUrl: "https://api.stripe.com",
      auth: { type: "bearer" },
      headers: { "Stripe-Version": stripeApiVersion },
      rateLimit: "25/s",
      idempotencyHeader: "Idempotency-Key",
    });
    expect(stripe.webhooks).toEqual({ provider: "stripe", dedupKey: "event id" });
  });

  it("createPaymentIntent POSTs form-encoded parameters, metadata in brackets, with the step's Idempotency-Key", async () => {
    const before = sandbox.requests("payments").length;
    const intent = await connections.inStep(() => client.createPaymentIntent(charge), { key: "run-1:charge" });
    expect(intent).toMatchObject({
      id: expect.stringMatching(/^pi_/),
      amount: 2500,
      currency: "usd",
      status: "requires_payment_method",
      metadata: { order_id: "1001" },
    });

    const [request] = requestsSince(before);
    expect(request).toMatchObject({
      method: "POST",
      path: "/v1/payment_intents",
      headers: {
        authorization: `Bearer ${secretKey}`,
        "content-type": "application/x-www-form-urlencoded",
        "stripe-version": stripeApiVersion,
        "idempotency-key": "run-1:charge",
      },
    });
    expect(request?.body).toContain("metadata%5Border_id%5D=1001");
    expect(Object.fromEntries(new URLSearchParams(request?.body))).toEqual({
      amount: "2500",
      currency: "usd",
      description: "Order #1001",
      "metadata[order_id]": "1001",
    });
  });

  it("a retried step sends the same Idempotency-Key and gets the first PaymentIntent back: no second charge", async () => {
    const before = intentsMade();
    const first = await connections.inStep(() => client.createPaymentIntent(charge), { key: "run-2:charge" });
    const retried = await connections.inStep(() => client.createPaymentIntent(charge), {
      key: "run-2:charge",
      attempt: 2,
    });
    expect(retried.id).toBe(first.id);
    expect(intentsMade()).toBe(before + 1);
    const keys = requestsSince(sandbox.requests("payments").length - 2).map(
      (request) => request.headers["idempotency-key"],
    );
    expect(keys).toEqual(["run-2:charge", "run-2:charge"]);
  });

  it("a retried step whose parameters changed fails instead of charging again (Stripe's idempotency_error)", async () => {
    await connections.inStep(() => client.createPaymentIntent(charge), { key: "run-3:charge" });
    const changed = connections.inStep(() => client.createPaymentIntent({ ...charge, amount: 2600 }), {
      key: "run-3:charge",
      attempt: 2,
    });
    await expect(changed).rejects.toThrow(NonRetryableError);
    await expect(changed).rejects.toMatchObject({ response: { status: 400 } });
  });

  it("confirmPaymentIntent POSTs /confirm with the payment method; retrievePaymentIntent GETs with no body or key", async () => {
    const created = await client.createPaymentIntent(charge);
    const before = sandbox.requests("payments").length;
    const confirmed = await connections.inStep(
      () => client.confirmPaymentIntent({ id: created.id, paymentMethod: "pm_card_visa" }),
      { key: "run-4:confirm" },
    );
    expect(confirmed).toMatchObject({ id: created.id, status: "succeeded", amount_received: 2500 });
    const retrieved = await client.retrievePaymentIntent({ id: created.id });
    expect(retrieved.status).toBe("succeeded");

    const [confirm, retrieve] = requestsSince(before);
    expect(confirm).toMatchObject({
      method: "POST",
      path: `/v1/payment_intents/${created.id}/confirm`,
      headers: { "content-type": "application/x-www-form-urlencoded", "idempotency-key": "run-4:confirm" },
      body: "payment_method=pm_card_visa",
    });
    expect(retrieve).toMatchObject({ method: "GET", path: `/v1/payment_intents/${created.id}`, body: "" });
    expect(retrieve?.headers["idempotency-key"]).toBeUndefined();
    expect(retrieve?.headers["stripe-version"]).toBe(stripeApiVersion);
  });

  it("listEvents GETs /v1/events with type and limit, and its events match the webhook event schema", async () => {
    sandbox
      .system<Payments>("payments")
      .customerPays({ amount: 1500, currency: "eur", metadata: { invoice_number: "S-7" } });
    const before = sandbox.requests("payments").length;
    const { events, hasMore } = await client.listEvents({ type: "payment_intent.succeeded", limit: 1 });
    expect(hasMore).toBe(true);
    expect(events).toHaveLength(1);
    expect(requestsSince(before)[0]).toMatchObject({
      method: "GET",
      path: "/v1/events",
      query: { type: "payment_intent.succeeded", limit: "1" },
    });
    const event = paymentIntentEventSchema.parse(events[0]);
    expect(event.data.object.metadata).toEqual({ invoice_number: "S-7" });
    expect(stripeEventSchema.parse(events[0]).id).toMatch(/^evt_/);
  });

  it("leaves the PaymentIntent's client_secret out of every result, so it is never journaled", async () => {
    // biome-ignore lint/suspicious/noExplicitAny: Stripe's raw JSON, which the assertions check
    const raw = async (path: string): Promise<any> =>
      (
        await fetch(`${sandbox.baseUrl("payments")}${path}`, { headers: { authorization: `Bearer ${secretKey}` } })
      ).json();
    const created = await connections.inStep(() => client.createPaymentIntent(charge), { key: "run-5:charge" });
    const confirmed = await connections.inStep(
      () => client.confirmPaymentIntent({ id: created.id, paymentMethod: "pm_card_visa" }),
      { key: "run-5:confirm" },
    );
    const retrieved = await client.retrievePaymentIntent({ id: created.id });
    const { events } = await client.listEvents({ type: "payment_intent.succeeded", limit: 1 });

    // Stripe sends it (and so does the sandbox); the results leave it out.
    expect((await raw(`/v1/payment_intents/${created.id}`)).client_secret).toMatch(/_secret_/);
    for (const intent of [created, confirmed, retrieved, events[0]?.data.object]) {
      expect(intent).toMatchObject({ id: created.id });
      expect(intent).not.toHaveProperty("client_secret");
    }
    const [event] = (await raw("/v1/events?type=payment_intent.succeeded&limit=1")).data;
    expect(event.data.object.client_secret).toMatch(/_secret_/);
    expect(paymentIntentEventSchema.parse(event).data.object).not.toHaveProperty("client_secret");
  });

  it("fails with a ResponseShapeError naming the field when the API renames it", async () => {
    const created = await client.createPaymentIntent(charge);
    sandbox.setFaults("payments", { schemaChange: { field: "status", action: "rename", to: "state" } });
    const failure = client.retrievePaymentIntent({ id: created.id });
    await expect(failure).rejects.toThrow(ResponseShapeError);
    await expect(failure).rejects.toThrow(/status/);
  });

  it("checks input before sending anything", async () => {
    const before = sandbox.requests("payments").length;
    await expect(client.createPaymentIntent({ ...charge, amount: 25.5 })).rejects.toThrow(NonRetryableError);
    await expect(client.createPaymentIntent({ ...charge, metadata: { ["k".repeat(41)]: "v" } })).rejects.toThrow(
      NonRetryableError,
    );
    expect(sandbox.requests("payments").length).toBe(before);
  });
});
