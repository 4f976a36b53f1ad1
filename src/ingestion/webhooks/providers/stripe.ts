/**
 * Stripe: `Stripe-Signature: t=<unix s>,v1=<hex>[,v1=<hex>…][,v0=…]`, each v1 an
 * HMAC-SHA256 of `${t}.${body}` keyed by the whole endpoint secret, `whsec_`
 * prefix included (https://docs.stripe.com/webhooks#verify-manually). Stripe
 * sends several v1 entries while an endpoint secret is being rolled; any may match.
 */
import {
  anySignatureMatches,
  checkTimestamp,
  hmac,
  isJsonObject,
  parseJsonBody,
  parseTimestamp,
  requireString,
} from "../hmac.ts";
import { UnparseableBodyError, type WebhookProvider } from "../webhook-provider.ts";

interface StripeSignatureHeader {
  timestamp: string | null;
  v1: string[];
}

/** Splits the header into its `t` and `v1` elements; other schemes (v0, test-mode extras) are ignored, as Stripe's library does. */
function parseStripeSignature(header: string): StripeSignatureHeader {
  const parsed: StripeSignatureHeader = { timestamp: null, v1: [] };
  for (const element of header.split(",")) {
    const separator = element.indexOf("=");
    if (separator === -1) continue;
    const key = element.slice(0, separator);
    const value = element.slice(separator + 1);
    if (key === "t") parsed.timestamp = value;
    else if (key === "v1") parsed.v1.push(value);
  }
  return parsed;
}

export const stripeProvider: WebhookProvider = {
  name: "stripe",

  verify(request, options) {
    const header = request.headers["stripe-signature"];
    if (!header) return { ok: false, check: "missing-header", message: "Stripe-Signature header is missing" };
    const { timestamp, v1 } = parseStripeSignature(header);
    const seconds = timestamp === null ? null : parseTimestamp(timestamp);
    if (timestamp === null || seconds === null) {
      return { ok: false, check: "malformed-header", message: "Stripe-Signature has no t=<unix seconds> element" };
    }
    if (v1.length === 0) {
      return { ok: false, check: "malformed-header", message: "Stripe-Signature has no v1 signature" };
    }
    const expected = options.secrets.map((secret) => hmac("sha256", secret, [`${timestamp}.`, request.rawBody], "hex"));
    if (!anySignatureMatches(expected, v1)) {
      return { ok: false, check: "signature", message: "no v1 signature in Stripe-Signature matches" };
    }
    return checkTimestamp("Stripe-Signature timestamp", seconds, "s", options) ?? { ok: true };
  },

  parse(request) {
    const { value: event, text } = parseJsonBody(request.rawBody, "Stripe event");
    if (!isJsonObject(event)) throw new UnparseableBodyError("Stripe event is not a JSON object");
    return {
      events: [
        {
          type: requireString(event, "type", "Stripe event"),
          dedupKey: requireString(event, "id", "Stripe event"),
          payload: event,
          payloadJson: text,
        },
      ],
    };
  },

  // Stripe sends no delivery id header; the event id lives in the body only.
  deliveryIdFromHeaders: () => null,
};
