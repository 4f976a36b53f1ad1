import { createHmac } from "node:crypto";
import { Signature } from "@hubspot/api-client";
import { sign as githubSign } from "@octokit/webhooks-methods";
import { Webhook } from "standardwebhooks";
import Stripe from "stripe";
import twilio from "twilio";

/**
 * Webhook requests as each provider sends them, signed by the provider's own
 * package where it has one (Shopify and Slack have no slim signer: their
 * documented HMAC is computed here). Test servers verify them for real.
 */
export interface SignedRequest {
  headers: Record<string, string>;
  body: string;
}

export const secrets = {
  stripe: "whsec_test_stripe_secret",
  shopify: "shopify-app-secret",
  github: "github-webhook-secret",
  slack: "slack-signing-secret",
  twilio: "twilio-auth-token-0123456789abcd",
  hubspot: "hubspot-client-secret",
  "standard-webhooks": `whsec_${Buffer.from("standard-webhooks-key-32-bytes!!").toString("base64")}`,
} as const;

const stripe = new Stripe("sk_test_unused");
const json = { "content-type": "application/json" };

export function stripeRequest(id: string, type = "payment_intent.succeeded", extra: object = {}): SignedRequest {
  const body = JSON.stringify({ id, object: "event", type, data: { object: { id: `pi_${id}`, ...extra } } });
  const signature = stripe.webhooks.generateTestHeaderString({ payload: body, secret: secrets.stripe });
  return { headers: { ...json, "stripe-signature": signature }, body };
}

export function shopifyRequest(eventId: string, topic = "orders/create"): SignedRequest {
  const body = JSON.stringify({ id: 820982911946154500, email: "jon@example.com", total_price: "12.00" });
  const hmac = createHmac("sha256", secrets.shopify).update(body).digest("base64");
  return {
    headers: {
      ...json,
      "x-shopify-hmac-sha256": hmac,
      "x-shopify-topic": topic,
      "x-shopify-event-id": eventId,
      "x-shopify-webhook-id": `wh-${eventId}-${Math.random()}`,
      "x-shopify-shop-domain": "acme.myshopify.com",
    },
    body,
  };
}

export async function githubRequest(delivery: string, event = "issues"): Promise<SignedRequest> {
  const body = JSON.stringify({ action: "opened", issue: { number: 1 } });
  return {
    headers: {
      ...json,
      "x-hub-signature-256": await githubSign(secrets.github, body),
      "x-github-event": event,
      "x-github-delivery": delivery,
    },
    body,
  };
}

export function slackRequest(eventId: string, nowSec = Math.floor(Date.now() / 1000)): SignedRequest {
  const body = JSON.stringify({
    type: "event_callback",
    event_id: eventId,
    event: { type: "app_mention", text: "hi" },
  });
  const signature = `v0=${createHmac("sha256", secrets.slack).update(`v0:${nowSec}:${body}`).digest("hex")}`;
  return {
    headers: { ...json, "x-slack-signature": signature, "x-slack-request-timestamp": String(nowSec) },
    body,
  };
}

export function twilioRequest(url: string, token: string, messageSid: string): SignedRequest {
  const params = { MessageSid: messageSid, MessageStatus: "delivered", To: "+14155550199" };
  return {
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      "x-twilio-signature": twilio.getExpectedTwilioSignature(secrets.twilio, url, params),
      "i-twilio-idempotency-token": token,
    },
    body: new URLSearchParams(params).toString(),
  };
}

export function hubspotRequest(url: string, eventIds: number[]): SignedRequest {
  const body = JSON.stringify(
    eventIds.map((eventId) => ({ eventId, subscriptionType: "contact.creation", objectId: eventId * 10 })),
  );
  const timestamp = Date.now();
  const signature = Signature.getSignature("POST", "v3", {
    signature: "",
    clientSecret: secrets.hubspot,
    requestBody: body,
    url,
    timestamp,
  });
  return {
    headers: {
      ...json,
      "x-hubspot-signature-v3": signature,
      "x-hubspot-request-timestamp": String(timestamp),
    },
    body,
  };
}

export function standardWebhooksRequest(id: string, type = "appointment.completed"): SignedRequest {
  const body = JSON.stringify({ type, data: { appointment: id } });
  const signature = new Webhook(secrets["standard-webhooks"]).sign(id, new Date(), body);
  return {
    headers: {
      ...json,
      "webhook-id": id,
      "webhook-timestamp": String(Math.floor(Date.now() / 1000)),
      "webhook-signature": signature,
    },
    body,
  };
}
