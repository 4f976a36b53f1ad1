import qs from "qs";
import type { ConnectionCredentials } from "../../connections/connection-config.ts";
import { defineConnector, defineOperation } from "../define-connector.ts";
import {
  confirmPaymentIntentInput,
  createPaymentIntentInput,
  listEventsInput,
  listEventsOutput,
  paymentIntentSchema,
  retrievePaymentIntentInput,
} from "./schemas.ts";

export * from "./schemas.ts";

/**
 * The API version sent as `Stripe-Version` (https://docs.stripe.com/api/versioning): the one the
 * `stripe` package Tenon tests against (23.1.0) pins. The fields read here are the same since 2025-03-31.basil.
 */
export const stripeApiVersion = "2026-10-28.endive";

export interface StripeOptions {
  /** Default https://api.stripe.com; the sandbox's is `sandbox.baseUrl("payments")`. */
  baseUrl?: string;
  /** `{ token }`: the secret key (`sk_live_…`, `sk_test_…`) or a restricted key (`rk_…`). */
  credentials?: ConnectionCredentials;
  /** Default `2026-10-28.endive`. */
  apiVersion?: string;
}

/**
 * Stripe: PaymentIntents and events. Writes carry the step's `Idempotency-Key`, which Stripe keeps
 * for 24 hours, so a retried step gets the first attempt's answer instead of charging twice.
 */
export const stripe = defineConnector({
  id: "stripe",
  title: "Stripe",
  apiVersion: stripeApiVersion,
  connection: (options: StripeOptions = {}) => ({
    baseUrl: options.baseUrl ?? "https://api.stripe.com",
    auth: { type: "bearer" },
    ...(options.credentials ? { credentials: options.credentials } : {}),
    headers: { "Stripe-Version": options.apiVersion ?? stripeApiVersion },
    // Test mode's limit; live mode allows 100 a second (https://docs.stripe.com/rate-limits).
    rateLimit: "25/s",
    idempotencyHeader: "Idempotency-Key",
  }),
  webhooks: { provider: "stripe", dedupKey: "event id" },
  operations: {
    createPaymentIntent: defineOperation({
      description: "Creates a PaymentIntent for an amount to collect",
      input: createPaymentIntentInput,
      output: paymentIntentSchema,
      idempotency: "header",
      async call(client, input) {
        const { amount, currency, customer, description, metadata } = input;
        return (
          await client.post("/v1/payment_intents", {
            form: stripeForm({ amount, currency, customer, description, metadata }),
          })
        ).body;
      },
    }),
    confirmPaymentIntent: defineOperation({
      description: "Confirms a PaymentIntent: the customer's payment method is charged",
      input: confirmPaymentIntentInput,
      output: paymentIntentSchema,
      idempotency: "header",
      async call(client, input) {
        const path = `/v1/payment_intents/${encodeURIComponent(input.id)}/confirm`;
        return (await client.post(path, { form: stripeForm({ payment_method: input.paymentMethod }) })).body;
      },
    }),
    retrievePaymentIntent: defineOperation({
      description: "Reads a PaymentIntent",
      input: retrievePaymentIntentInput,
      output: paymentIntentSchema,
      idempotency: "read",
      async call(client, input) {
        return (await client.get(`/v1/payment_intents/${encodeURIComponent(input.id)}`)).body;
      },
    }),
    listEvents: defineOperation({
      description: "Lists recent events, newest first, optionally of one type",
      input: listEventsInput,
      output: listEventsOutput,
      idempotency: "read",
      async call(client, input) {
        return (await client.get("/v1/events", { query: { type: input.type, limit: input.limit } })).body;
      },
    }),
  },
});

/** Stripe's form encoding, as its own libraries send it: nested objects in brackets (`metadata[order_id]=1001`), absent values left out. */
function stripeForm(params: Record<string, unknown>): URLSearchParams {
  return new URLSearchParams(qs.stringify(params, { encode: true, skipNulls: true }));
}
