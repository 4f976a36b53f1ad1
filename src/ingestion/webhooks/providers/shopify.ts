/**
 * Shopify: `X-Shopify-Hmac-Sha256` is the base64 HMAC-SHA256 of the raw body,
 * keyed by the app's client secret (https://shopify.dev/docs/apps/build/webhooks/subscribe/https#step-2-validate-the-origin-of-your-webhook-to-ensure-its-coming-from-shopify).
 * There is no timestamp in the signature, so the scheme has no replay window of its own.
 */
import { anySignatureMatches, bodyDedupKey, hmac, parseJsonBody } from "../hmac.ts";
import type { WebhookProvider, WebhookRequest } from "../webhook-provider.ts";

/**
 * `X-Shopify-Event-Id` names the event (the same across subscriptions and
 * retries); `X-Shopify-Webhook-Id` names the delivery (the same across retries).
 */
function shopifyId(request: WebhookRequest): string | null {
  return request.headers["x-shopify-event-id"] || request.headers["x-shopify-webhook-id"] || null;
}

export const shopifyProvider: WebhookProvider = {
  name: "shopify",

  verify(request, options) {
    const signature = request.headers["x-shopify-hmac-sha256"];
    if (!signature) return { ok: false, check: "missing-header", message: "X-Shopify-Hmac-Sha256 header is missing" };
    const expected = options.secrets.map((secret) => hmac("sha256", secret, [request.rawBody], "base64"));
    if (!anySignatureMatches(expected, [signature])) {
      return { ok: false, check: "signature", message: "X-Shopify-Hmac-Sha256 does not match the body" };
    }
    return { ok: true };
  },

  parse(request) {
    const { value: payload, text } = parseJsonBody(request.rawBody, "Shopify webhook body");
    return {
      events: [
        {
          // Shopify always sends the topic (`orders/create`); a signed request without
          // one is still Shopify's, so it gets a generic type rather than quarantine.
          type: request.headers["x-shopify-topic"] || "shopify.webhook",
          dedupKey: shopifyId(request) ?? bodyDedupKey(request.rawBody),
          payload,
          payloadJson: text,
        },
      ],
    };
  },

  deliveryIdFromHeaders: shopifyId,
};
