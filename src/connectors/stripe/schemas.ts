import { z } from "zod";

/** Stripe's metadata limits (https://docs.stripe.com/metadata): 50 keys of up to 40 characters, values up to 500. */
const metadata = z
  .record(z.string().min(1).max(40), z.string().max(500))
  .refine((value) => Object.keys(value).length <= 50, { message: "Stripe takes at most 50 metadata keys" });

/**
 * A PaymentIntent (https://docs.stripe.com/api/payment_intents/object). The fields named here are
 * checked; every other one is kept as Stripe sent it, except `client_secret`, which is left out.
 */
const paymentIntentFields = z.looseObject({
  id: z.string(),
  object: z.literal("payment_intent"),
  /** In the currency's smallest unit (cents). */
  amount: z.number().int(),
  amount_received: z.number().int(),
  /** ISO 4217, lower case. */
  currency: z.string(),
  status: z.enum([
    "requires_payment_method",
    "requires_confirmation",
    "requires_action",
    "processing",
    "requires_capture",
    "canceled",
    "succeeded",
  ]),
  customer: z.string().nullable(),
  description: z.string().nullable(),
  metadata: z.record(z.string(), z.string()),
  payment_method: z.string().nullable(),
  latest_charge: z.string().nullable(),
  /** Unix seconds. */
  created: z.number().int(),
  livemode: z.boolean(),
});

/**
 * `client_secret` lets whoever holds it confirm the payment from a browser
 * (https://docs.stripe.com/api/payment_intents/object#payment_intent_object-client_secret). A step's
 * result is journaled in Tenon's database, so the secret is dropped before it gets there.
 */
function withoutClientSecret<T extends Record<string, unknown>>(object: T): T {
  const { client_secret: _secret, ...rest } = object;
  return rest as T;
}

export const paymentIntentSchema = paymentIntentFields.transform(withoutClientSecret);

export type PaymentIntent = z.output<typeof paymentIntentSchema>;

/**
 * An event, as `GET /v1/events` lists it and as webhooks deliver it (https://docs.stripe.com/api/events/object).
 * `data.object` is the resource the event is about (a PaymentIntent for `payment_intent.*`): parse it
 * with that resource's schema.
 */
export const stripeEventSchema = z.looseObject({
  /** `evt_…`: the same on every delivery of the event, so it is the dedup key. */
  id: z.string(),
  object: z.literal("event"),
  type: z.string(),
  api_version: z.string().nullable(),
  /** Unix seconds. */
  created: z.number().int(),
  livemode: z.boolean(),
  pending_webhooks: z.number().int(),
  /** Without the resource's `client_secret` (a PaymentIntent's), which must not be journaled. */
  data: z.looseObject({ object: z.looseObject({ id: z.string() }).transform(withoutClientSecret) }),
  request: z.looseObject({ id: z.string().nullable(), idempotency_key: z.string().nullable() }).nullable(),
});

export type StripeEvent = z.output<typeof stripeEventSchema>;

/** A `payment_intent.*` event (`payment_intent.succeeded`, …), its PaymentIntent checked too. */
export const paymentIntentEventSchema = stripeEventSchema.extend({
  type: z.string().startsWith("payment_intent."),
  data: z.looseObject({ object: paymentIntentSchema }),
});

export type PaymentIntentEvent = z.output<typeof paymentIntentEventSchema>;

export const createPaymentIntentInput = z.object({
  /** In the currency's smallest unit: 2500 is $25.00. */
  amount: z.number().int().positive(),
  /** ISO 4217, any case ("usd", "EUR"); sent lower case. */
  currency: z
    .string()
    .regex(/^[A-Za-z]{3}$/)
    .transform((currency) => currency.toLowerCase()),
  /** `cus_…`. */
  customer: z.string().min(1).optional(),
  description: z.string().max(1000).optional(),
  metadata: metadata.optional(),
});

export const confirmPaymentIntentInput = z.object({
  id: z.string().startsWith("pi_"),
  /** `pm_…` (in test mode also `pm_card_visa` and the other test methods). Default: the one already attached. */
  paymentMethod: z.string().startsWith("pm_").optional(),
});

export const retrievePaymentIntentInput = z.object({ id: z.string().startsWith("pi_") });

export const listEventsInput = z.object({
  /** An event type, or a prefix with a wildcard: `payment_intent.succeeded`, `payment_intent.*`. */
  type: z.string().min(1).optional(),
  /** 1 to 100; default 10. Newest first. */
  limit: z.number().int().min(1).max(100).optional(),
});

export const listEventsOutput = z
  .looseObject({ object: z.literal("list"), data: z.array(stripeEventSchema), has_more: z.boolean() })
  .transform((list) => ({ events: list.data, hasMore: list.has_more }));
