import { createHmac, randomBytes, randomInt } from "node:crypto";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { SandboxContext, SandboxSystem } from "../sandbox-system.ts";
import { stripeWebhookRetries } from "../webhook-retry-schedules.ts";
import { appendKept, rememberIdempotencyKey, setKept } from "./record-limits.ts";

/**
 * A Stripe-like payments API (https://docs.stripe.com/api): PaymentIntents and Events under `/v1`,
 * form-encoded requests authenticated with a secret key, `Idempotency-Key` honoured for 24 hours
 * with Stripe's semantics (https://docs.stripe.com/api/idempotent_requests), and events delivered as
 * webhooks signed with `Stripe-Signature` (https://docs.stripe.com/webhooks#verify-manually).
 * It keeps the newest 50,000 PaymentIntents and 50,000 events (`maxKeptRecords`) and forgets idempotency
 * keys once their 24 hours have passed, so hours of demo traffic stay in bounded memory.
 */
export interface PaymentsOptions {
  /** The secret key; default a random `sk_test_…`. */
  secretKey?: string;
  /** The webhook endpoint's signing secret; default a random `whsec_…`. */
  webhookSecret?: string;
  /** The account's default API version: events are rendered with it. Default `2026-10-28.endive`. */
  apiVersion?: string;
  /** Event types the webhook endpoint subscribes to. Default the payment outcomes. */
  enabledEvents?: string[];
}

export interface CustomerPaysInput {
  /** In the currency's minor unit (cents). */
  amount: number;
  currency: string;
  metadata?: Record<string, string>;
}

export interface PaymentsState {
  apiVersion: string;
  paymentIntents: { id: string; amount: number; currency: string; status: string; metadata: Record<string, string> }[];
  /** Oldest first. */
  events: { id: string; type: string; paymentIntent: string; idempotencyKey: string | null }[];
  counters: {
    paymentIntents: number;
    succeeded: number;
    events: number;
    idempotencyKeys: number;
    replays: number;
    idempotencyErrors: number;
    webhooksSent: number;
    /** Webhooks the `dropWebhooksRate` fault kept from ever being sent. */
    webhooksDropped: number;
  };
  credentialsRevoked: boolean;
}

export interface Payments extends SandboxSystem {
  state(): PaymentsState;
  /** A customer pays (a checkout): a PaymentIntent is created and confirmed, `payment_intent.succeeded` is sent. */
  customerPays(input: CustomerPaysInput): PaymentIntentJson;
}

export type PaymentIntentJson = Record<string, unknown> & { id: string; status: string; amount: number };

interface PaymentIntent {
  id: string;
  amount: number;
  currency: string;
  customer: string | null;
  description: string | null;
  metadata: Record<string, string>;
  paymentMethod: string | null;
  status: "requires_payment_method" | "requires_confirmation" | "succeeded";
  latestCharge: string | null;
  lastPaymentError: Record<string, unknown> | null;
  receiptEmail: string | null;
  clientSecret: string;
  created: number;
}

interface StripeEvent {
  id: string;
  object: "event";
  api_version: string;
  created: number;
  data: { object: PaymentIntentJson };
  livemode: false;
  pending_webhooks: number;
  request: { id: string | null; idempotency_key: string | null };
  type: string;
}

/** What an idempotency key remembers: the request it was first used with and, once executed, the answer. */
interface IdempotencyRecord {
  key: string;
  fingerprint: string;
  createdAt: number;
  requestId: string;
  answer: { status: number; body: unknown } | undefined;
}

type IdempotencyDecision =
  | { kind: "fresh"; record: IdempotencyRecord }
  | { kind: "replay"; record: IdempotencyRecord }
  | { kind: "mismatch"; key: string }
  | { kind: "in_use"; key: string };

/** Who asked, for event `request` fields and idempotency: null when the outside world acted (a checkout). */
interface Caller {
  requestId: string | null;
  idempotencyKey: string | null;
}

export const defaultStripeApiVersion = "2026-10-28.endive";
const idempotencyWindowMs = 24 * 3_600_000;
const versionPattern = /^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$/;
const currencies = new Set(["usd", "eur", "gbp", "cad", "aud", "chf", "jpy", "sek", "nok", "dkk", "nzd", "sgd"]);
const createParams = new Set([
  "amount",
  "currency",
  "customer",
  "description",
  "metadata",
  "payment_method",
  "payment_method_types",
  "confirm",
  "capture_method",
  "receipt_email",
  "statement_descriptor",
  "statement_descriptor_suffix",
  "automatic_payment_methods",
  "return_url",
  "expand",
]);
const confirmParams = new Set(["payment_method", "receipt_email", "return_url", "expand", "payment_method_types"]);
const declinedTestMethods = new Set(["pm_card_chargeDeclined", "pm_card_visa_chargeDeclined"]);

/** A Stripe-like payments API (see `PaymentsOptions`); register it as `{ payments: createPayments }`. */
export function createPayments(context: SandboxContext, options: PaymentsOptions = {}): Payments {
  const secretKey = options.secretKey ?? `sk_test_${randomId(32)}`;
  const webhookSecret = options.webhookSecret ?? `whsec_${randomBytes(24).toString("base64url")}`;
  const accountVersion = options.apiVersion ?? defaultStripeApiVersion;
  const enabledEvents = new Set(options.enabledEvents ?? ["payment_intent.succeeded", "payment_intent.payment_failed"]);
  const intents = new Map<string, PaymentIntent>();
  const events: StripeEvent[] = [];
  const idempotency = new Map<string, IdempotencyRecord>();
  const decisions = new WeakMap<FastifyRequest, IdempotencyDecision>();
  const requestIds = new WeakMap<FastifyRequest, string>();
  const counters = { replays: 0, idempotencyErrors: 0, webhooksSent: 0, webhooksDropped: 0 };
  let revoked = false;

  const seconds = () => Math.floor(context.now() / 1000);

  function intentJson(intent: PaymentIntent): PaymentIntentJson {
    return {
      id: intent.id,
      object: "payment_intent",
      amount: intent.amount,
      amount_capturable: 0,
      amount_details: { tip: {} },
      amount_received: intent.status === "succeeded" ? intent.amount : 0,
      application: null,
      application_fee_amount: null,
      automatic_payment_methods: { allow_redirects: "always", enabled: true },
      canceled_at: null,
      cancellation_reason: null,
      capture_method: "automatic_async",
      client_secret: intent.clientSecret,
      confirmation_method: "automatic",
      created: intent.created,
      currency: intent.currency,
      customer: intent.customer,
      description: intent.description,
      excluded_payment_method_types: null,
      last_payment_error: intent.lastPaymentError,
      latest_charge: intent.latestCharge,
      livemode: false,
      metadata: { ...intent.metadata },
      next_action: null,
      on_behalf_of: null,
      payment_method: intent.paymentMethod,
      payment_method_configuration_details: null,
      payment_method_options: {
        card: { installments: null, mandate_options: null, network: null, request_three_d_secure: "automatic" },
      },
      payment_method_types: ["card"],
      processing: null,
      receipt_email: intent.receiptEmail,
      review: null,
      setup_future_usage: null,
      shipping: null,
      source: null,
      statement_descriptor: null,
      statement_descriptor_suffix: null,
      status: intent.status,
      transfer_data: null,
      transfer_group: null,
    };
  }

  function emit(type: string, intent: PaymentIntent, caller: Caller): void {
    const delivered = enabledEvents.has(type) || enabledEvents.has("*");
    const event: StripeEvent = {
      id: `evt_${randomId(24)}`,
      object: "event",
      api_version: accountVersion,
      created: seconds(),
      data: { object: intentJson(intent) },
      livemode: false,
      pending_webhooks: delivered ? 1 : 0,
      request: { id: caller.requestId, idempotency_key: caller.idempotencyKey },
      type,
    };
    appendKept(events, event);
    if (!delivered) return;
    if (context.dropsWebhook()) {
      // Lost on the way: the event is in `GET /v1/events`, and the endpoint never hears of it.
      counters.webhooksDropped += 1;
      return;
    }
    // Stripe sends its events pretty-printed; receivers must verify the bytes, not a re-serialisation.
    const body = JSON.stringify(event, null, 2);
    counters.webhooksSent += 1;
    context.webhooks.send({
      id: event.id,
      topic: type,
      body,
      headers: (_attempt, now) => {
        // A fresh timestamp on every attempt, as Stripe does: a retry is not a replay.
        const timestamp = Math.floor(now / 1000);
        const signature = createHmac("sha256", webhookSecret).update(`${timestamp}.${body}`, "utf8").digest("hex");
        return {
          "content-type": "application/json; charset=utf-8",
          "stripe-signature": `t=${timestamp},v1=${signature}`,
          "user-agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        };
      },
    });
  }

  type Outcome = { status: number; body: unknown };

  function createIntent(params: Record<string, unknown>, caller: Caller): Outcome {
    const unknown = Object.keys(params).find((name) => !createParams.has(name));
    if (unknown) return invalid(`Received unknown parameter: ${unknown}`, unknown);
    if (params.amount === undefined) return invalid("Missing required param: amount.", "amount", "parameter_missing");
    const amount = readInteger(params.amount);
    if (amount === undefined) {
      return invalid(`Invalid integer: ${String(params.amount)}`, "amount", "parameter_invalid_integer");
    }
    if (params.currency === undefined) {
      return invalid("Missing required param: currency.", "currency", "parameter_missing");
    }
    const currency = String(params.currency).toLowerCase();
    if (!currencies.has(currency)) {
      return invalid(
        `Invalid currency: ${currency}. Stripe currently supports these currencies: ${[...currencies].join(", ")}`,
        "currency",
      );
    }
    if (amount < 1 || (currency === "usd" && amount < 50)) {
      return invalid(
        currency === "usd" ? "Amount must be at least $0.50 usd" : "Amount must be greater than 0",
        "amount",
        "amount_too_small",
      );
    }
    const metadata = readMetadata(params.metadata);
    if (typeof metadata === "string") return invalid(metadata, "metadata");
    const confirm = params.confirm === "true";
    const paymentMethod = params.payment_method === undefined ? null : String(params.payment_method);
    if (paymentMethod !== null && !paymentMethod.startsWith("pm_")) {
      return invalid(`No such PaymentMethod: '${paymentMethod}'`, "payment_method", "resource_missing");
    }
    if (confirm && paymentMethod === null) return missingPaymentMethod();
    const intent: PaymentIntent = {
      id: `pi_3${randomId(23)}`,
      amount,
      currency,
      customer: typeof params.customer === "string" ? params.customer : null,
      description: typeof params.description === "string" ? params.description : null,
      metadata,
      paymentMethod: null,
      status: paymentMethod === null ? "requires_payment_method" : "requires_confirmation",
      latestCharge: null,
      lastPaymentError: null,
      receiptEmail: typeof params.receipt_email === "string" ? params.receipt_email : null,
      clientSecret: "",
      created: seconds(),
    };
    intent.clientSecret = `${intent.id}_secret_${randomId(25)}`;
    if (paymentMethod !== null) intent.paymentMethod = attachPaymentMethod(paymentMethod);
    setKept(intents, intent.id, intent);
    emit("payment_intent.created", intent, caller);
    if (confirm) return confirmIntent(intent, {}, caller);
    return { status: 200, body: intentJson(intent) };
  }

  function confirmIntent(intent: PaymentIntent, params: Record<string, unknown>, caller: Caller): Outcome {
    const unknown = Object.keys(params).find((name) => !confirmParams.has(name));
    if (unknown) return invalid(`Received unknown parameter: ${unknown}`, unknown);
    if (intent.status === "succeeded") {
      return invalid(
        "You cannot confirm this PaymentIntent because it has a status of succeeded. Only a PaymentIntent with one of the following statuses may be confirmed: requires_confirmation, requires_action, requires_payment_method.",
        undefined,
        "payment_intent_unexpected_state",
      );
    }
    const given = params.payment_method === undefined ? undefined : String(params.payment_method);
    if (given !== undefined && !given.startsWith("pm_")) {
      return invalid(`No such PaymentMethod: '${given}'`, "payment_method", "resource_missing");
    }
    const method = given === undefined ? intent.paymentMethod : attachPaymentMethod(given);
    if (method === null) return missingPaymentMethod();
    intent.paymentMethod = method;
    if (method.startsWith("pm_declined_")) {
      const charge = `ch_3${randomId(23)}`;
      const failure = {
        charge,
        code: "card_declined",
        decline_code: "generic_decline",
        doc_url: "https://stripe.com/docs/error-codes/card-declined",
        message: "Your card was declined.",
        type: "card_error",
      };
      intent.status = "requires_payment_method";
      intent.latestCharge = charge;
      intent.lastPaymentError = failure;
      emit("payment_intent.payment_failed", intent, caller);
      return { status: 402, body: { error: { ...failure, payment_intent: intentJson(intent) } } };
    }
    intent.status = "succeeded";
    intent.latestCharge = `ch_3${randomId(23)}`;
    intent.lastPaymentError = null;
    emit("payment_intent.succeeded", intent, caller);
    return { status: 200, body: intentJson(intent) };
  }

  /** Test-mode tokens (`pm_card_visa`) become a new PaymentMethod id, as in Stripe's test mode. */
  function attachPaymentMethod(given: string): string {
    if (declinedTestMethods.has(given)) return `pm_declined_${randomId(16)}`;
    return given.startsWith("pm_card_") ? `pm_1${randomId(23)}` : given;
  }

  function customerPays(input: CustomerPaysInput): PaymentIntentJson {
    const outcome = createIntent(
      {
        amount: String(input.amount),
        currency: input.currency,
        payment_method: "pm_card_visa",
        confirm: "true",
        ...(input.metadata ? { metadata: input.metadata } : {}),
      },
      { requestId: null, idempotencyKey: null },
    );
    if (outcome.status !== 200) {
      const message = (outcome.body as { error: { message: string } }).error.message;
      throw Object.assign(new Error(message), { statusCode: 400 });
    }
    return outcome.body as PaymentIntentJson;
  }

  // ------------------------------------------------------------------------------------------ API

  function apiKeyOf(request: FastifyRequest): string | undefined {
    const header = request.headers.authorization;
    if (!header) return undefined;
    const [scheme = "", value = ""] = header.split(/\s+/, 2);
    if (scheme.toLowerCase() === "bearer") return value;
    // Stripe also takes the key as the HTTP Basic username, with an empty password (`curl -u sk_test_…:`).
    if (scheme.toLowerCase() === "basic") return Buffer.from(value, "base64").toString("utf8").split(":")[0];
    return undefined;
  }

  function authenticated(request: FastifyRequest): boolean {
    return !revoked && apiKeyOf(request) === secretKey;
  }

  /** Decided before the injected latency, so a request still being processed holds its key. */
  function decideIdempotency(request: FastifyRequest, key: string): IdempotencyDecision {
    const now = context.now();
    const fingerprint = `${request.method} ${request.url.split("?")[0]} ${canonical(paramsOf(request))}`;
    const existing = idempotency.get(key);
    if (existing && existing.createdAt + idempotencyWindowMs > now) {
      if (existing.fingerprint !== fingerprint) return { kind: "mismatch", key };
      if (existing.answer === undefined) return { kind: "in_use", key };
      return { kind: "replay", record: existing };
    }
    const record: IdempotencyRecord = {
      key,
      fingerprint,
      createdAt: now,
      requestId: requestIdOf(request),
      answer: undefined,
    };
    rememberIdempotencyKey(idempotency, key, record, idempotencyWindowMs);
    return { kind: "fresh", record };
  }

  function requestIdOf(request: FastifyRequest): string {
    let id = requestIds.get(request);
    if (!id) {
      id = `req_${randomId(14)}`;
      requestIds.set(request, id);
    }
    return id;
  }

  function callerOf(request: FastifyRequest): Caller {
    const key = request.headers["idempotency-key"];
    return { requestId: requestIdOf(request), idempotencyKey: typeof key === "string" ? key : null };
  }

  /** Sends an outcome; one that executed (a success, a card decline) is kept for its idempotency key. */
  function answer(request: FastifyRequest, reply: FastifyReply, outcome: Outcome): FastifyReply {
    const decision = decisions.get(request);
    if (decision?.kind === "fresh") {
      if (outcome.status < 400 || outcome.status === 402) decision.record.answer = outcome;
      else idempotency.delete(decision.record.key);
    }
    return reply.code(outcome.status).send(outcome.body);
  }

  function registerRoutes(app: FastifyInstance): void {
    app.addHook("preValidation", async (request) => {
      const key = request.headers["idempotency-key"];
      // Stripe ignores keys on GET and DELETE; an unauthenticated request never touches them.
      if (request.method !== "POST" || typeof key !== "string" || key === "" || !authenticated(request)) return;
      decisions.set(request, decideIdempotency(request, key));
    });

    app.addHook("preHandler", async (request, reply) => {
      reply.header("request-id", requestIdOf(request));
      const key = apiKeyOf(request);
      if (key === undefined || key === "") {
        return reply.code(401).send({
          error: {
            message:
              "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/.",
            type: "invalid_request_error",
          },
        });
      }
      if (!authenticated(request)) {
        // A revoked (rolled) key is reported as expired, any other as invalid.
        const problem = revoked && key === secretKey ? "Expired" : "Invalid";
        return reply.code(401).send({
          error: { message: `${problem} API Key provided: ${maskKey(key)}`, type: "invalid_request_error" },
        });
      }
      const version = request.headers["stripe-version"];
      if (typeof version === "string" && !versionPattern.test(version)) {
        return reply.code(400).send(invalid(`Invalid Stripe API version: ${version}`).body);
      }
      reply.header("stripe-version", typeof version === "string" ? version : accountVersion);
      return idempotencyShortcut(request, reply);
    });

    // A request that never executed (an injected outage or 5xx before processing, a validation error) frees its key.
    app.addHook("onResponse", async (request) => {
      const decision = decisions.get(request);
      if (decision?.kind === "fresh" && decision.record.answer === undefined) {
        if (idempotency.get(decision.record.key) === decision.record) idempotency.delete(decision.record.key);
      }
    });

    app.post("/v1/payment_intents", async (request, reply) =>
      answer(request, reply, createIntent(paramsOf(request), callerOf(request))),
    );

    // Newest first, `limit` (1–100, default 10) at a time after `starting_after` (https://docs.stripe.com/api/payment_intents/list).
    app.get("/v1/payment_intents", async (request, reply) => {
      const query = request.query as Record<string, string | undefined>;
      const limit = query.limit === undefined ? 10 : readInteger(query.limit);
      if (limit === undefined || limit < 1 || limit > 100) {
        return reply
          .code(400)
          .send(
            invalid("Invalid limit: must be an integer between 1 and 100", "limit", "parameter_invalid_integer").body,
          );
      }
      let newestFirst = [...intents.values()].reverse();
      if (query.starting_after) {
        const index = newestFirst.findIndex((intent) => intent.id === query.starting_after);
        if (index < 0) return reply.code(400).send(noSuch("payment_intent", query.starting_after).body);
        newestFirst = newestFirst.slice(index + 1);
      }
      return {
        object: "list",
        data: newestFirst.slice(0, limit).map(intentJson),
        has_more: newestFirst.length > limit,
        url: "/v1/payment_intents",
      };
    });

    app.get("/v1/payment_intents/:id", async (request, reply) => {
      const intent = intents.get((request.params as { id: string }).id);
      if (!intent) return answer(request, reply, noSuch("payment_intent", (request.params as { id: string }).id));
      return intentJson(intent);
    });

    app.post("/v1/payment_intents/:id/confirm", async (request, reply) => {
      const id = (request.params as { id: string }).id;
      const intent = intents.get(id);
      if (!intent) return answer(request, reply, noSuch("payment_intent", id));
      return answer(request, reply, confirmIntent(intent, paramsOf(request), callerOf(request)));
    });

    app.get("/v1/events", async (request, reply) => {
      const query = request.query as Record<string, string | undefined>;
      const limit = query.limit === undefined ? 10 : readInteger(query.limit);
      if (limit === undefined || limit < 1 || limit > 100) {
        return reply
          .code(400)
          .send(
            invalid("Invalid limit: must be an integer between 1 and 100", "limit", "parameter_invalid_integer").body,
          );
      }
      const type = query.type;
      const matches = (event: StripeEvent) =>
        !type || (type.endsWith(".*") ? event.type.startsWith(type.slice(0, -1)) : event.type === type);
      let newestFirst = [...events].reverse().filter(matches);
      if (query.starting_after) {
        const index = newestFirst.findIndex((event) => event.id === query.starting_after);
        if (index < 0) return reply.code(400).send(noSuch("event", query.starting_after).body);
        newestFirst = newestFirst.slice(index + 1);
      }
      return {
        object: "list",
        data: newestFirst.slice(0, limit),
        has_more: newestFirst.length > limit,
        url: "/v1/events",
      };
    });

    app.get("/v1/events/:id", async (request, reply) => {
      const id = (request.params as { id: string }).id;
      const event = events.find((candidate) => candidate.id === id);
      if (!event) return reply.code(404).send(noSuch("event", id).body);
      return event;
    });
  }

  function idempotencyShortcut(request: FastifyRequest, reply: FastifyReply): FastifyReply | undefined {
    const decision = decisions.get(request);
    if (!decision || decision.kind === "fresh") return undefined;
    if (decision.kind === "replay") {
      const { record } = decision;
      counters.replays += 1;
      return reply
        .code(record.answer?.status ?? 200)
        .header("idempotent-replayed", "true")
        .header("idempotency-key", record.key)
        .header("original-request", record.requestId)
        .send(record.answer?.body);
    }
    counters.idempotencyErrors += 1;
    if (decision.kind === "mismatch") {
      return reply.code(400).send({
        error: {
          message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${decision.key}' if you meant to execute a different request.`,
          type: "idempotency_error",
        },
      });
    }
    return reply.code(409).send({
      error: {
        code: "idempotency_key_in_use",
        doc_url: "https://stripe.com/docs/error-codes/idempotency-key-in-use",
        message: `There is currently another in-progress request using this Idempotent Key (that probably means you submitted twice, and the other request is still going through): ${decision.key}. Please try again later.`,
        type: "idempotency_error",
      },
    });
  }

  return {
    name: "payments",
    webhookRetries: stripeWebhookRetries,
    registerRoutes,
    registerControlRoutes(app) {
      app.post("/payment_intents", async (request, reply) => {
        const body = (request.body ?? {}) as Partial<CustomerPaysInput>;
        if (!Number.isInteger(body.amount) || typeof body.currency !== "string") {
          return reply.code(400).send({ error: "invalid_request", message: "give { amount (integer), currency }" });
        }
        return customerPays(body as CustomerPaysInput);
      });
    },
    state(): PaymentsState {
      return {
        apiVersion: accountVersion,
        paymentIntents: [...intents.values()].map((intent) => ({
          id: intent.id,
          amount: intent.amount,
          currency: intent.currency,
          status: intent.status,
          metadata: intent.metadata,
        })),
        events: events.map((event) => ({
          id: event.id,
          type: event.type,
          paymentIntent: event.data.object.id,
          idempotencyKey: event.request.idempotency_key,
        })),
        counters: {
          paymentIntents: intents.size,
          succeeded: [...intents.values()].filter((intent) => intent.status === "succeeded").length,
          events: events.length,
          idempotencyKeys: idempotency.size,
          ...counters,
        },
        credentialsRevoked: revoked,
      };
    },
    counts: () => ({ paymentIntents: intents.size, events: events.length }),
    credentials: () => ({ token: secretKey, webhookSecret }),
    revokeCredentials() {
      revoked = true;
    },
    restoreCredentials() {
      revoked = false;
    },
    customerPays,
  };
}

/** Stripe reads parameters from the form body (POST) or the query string (GET); a JSON body carries none. */
function paramsOf(request: FastifyRequest): Record<string, unknown> {
  if (request.method === "GET") return { ...(request.query as Record<string, unknown>) };
  const type = String(request.headers["content-type"] ?? "");
  if (!type.startsWith("application/x-www-form-urlencoded")) return {};
  return { ...((request.body ?? {}) as Record<string, unknown>) };
}

function invalid(message: string, param?: string, code?: string): { status: number; body: unknown } {
  return {
    status: 400,
    body: {
      error: {
        ...(code ? { code, doc_url: `https://stripe.com/docs/error-codes/${code.replaceAll("_", "-")}` } : {}),
        message,
        ...(param ? { param } : {}),
        type: "invalid_request_error",
      },
    },
  };
}

function noSuch(resource: string, id: string): { status: number; body: unknown } {
  const param = resource === "payment_intent" ? "intent" : "id";
  return { ...invalid(`No such ${resource}: '${id}'`, param, "resource_missing"), status: 404 };
}

function missingPaymentMethod(): { status: number; body: unknown } {
  return invalid(
    "You cannot confirm this PaymentIntent because it's missing a payment method. You can either update the PaymentIntent with a payment method and then confirm it again, or confirm it again directly with a payment method.",
    undefined,
    "payment_intent_unexpected_state",
  );
}

function readInteger(value: unknown): number | undefined {
  const text = String(value);
  return /^-?\d{1,15}$/.test(text) ? Number(text) : undefined;
}

/** Stripe's metadata limits: 50 keys, keys up to 40 characters, values up to 500 (https://docs.stripe.com/metadata). */
function readMetadata(value: unknown): Record<string, string> | string {
  if (value === undefined || value === "") return {};
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return "Invalid object: metadata must be a hash of keys and values";
  }
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length > 50) return "Invalid metadata: you can specify up to 50 keys";
  for (const [key, inner] of entries) {
    if (key.length > 40) return `Invalid metadata: keys can be up to 40 characters long (${key})`;
    if (typeof inner !== "string") return `Invalid metadata: the value of ${key} must be a string`;
    if (inner.length > 500) return `Invalid metadata: values can be up to 500 characters long (${key})`;
  }
  return Object.fromEntries(entries) as Record<string, string>;
}

/** The parameters as a string that does not depend on their order in the request. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, inner]) => `${JSON.stringify(key)}:${canonical(inner)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

function maskKey(key: string): string {
  return key.length <= 12 ? "****" : `${key.slice(0, 8)}${"*".repeat(key.length - 12)}${key.slice(-4)}`;
}

const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** Stripe-style ids: mixed-case alphanumerics. */
function randomId(length: number): string {
  let id = "";
  for (let index = 0; index < length; index += 1) id += alphabet[randomInt(alphabet.length)];
  return id;
}
