/**
 * Standard Webhooks (https://www.standardwebhooks.com, used by Svix, Resend,
 * Clerk, …): `webhook-signature` holds space-separated `v1,<base64>` entries,
 * each the HMAC-SHA256 of `${webhook-id}.${webhook-timestamp}.${body}`. The key
 * is the secret's base64 part: `whsec_` is a label, not key material.
 */
import {
  anySignatureMatches,
  bodyDedupKey,
  checkTimestamp,
  hmac,
  isJsonObject,
  parseJsonBody,
  parseTimestamp,
  requireString,
} from "../hmac.ts";
import { UnparseableBodyError, type WebhookProvider } from "../webhook-provider.ts";

const secretPrefix = "whsec_";

function signingKey(secret: string): Buffer {
  return Buffer.from(secret.startsWith(secretPrefix) ? secret.slice(secretPrefix.length) : secret, "base64");
}

/** The v1 signatures; other versions (e.g. asymmetric `v1a`) are ignored, as the spec asks. */
function v1Signatures(header: string): string[] {
  return header
    .split(" ")
    .filter((entry) => entry.startsWith("v1,"))
    .map((entry) => entry.slice("v1,".length));
}

export const standardWebhooksProvider: WebhookProvider = {
  name: "standard-webhooks",

  verify(request, options) {
    const id = request.headers["webhook-id"];
    const timestamp = request.headers["webhook-timestamp"];
    const signature = request.headers["webhook-signature"];
    if (!id) return { ok: false, check: "missing-header", message: "webhook-id header is missing" };
    if (!timestamp) return { ok: false, check: "missing-header", message: "webhook-timestamp header is missing" };
    if (!signature) return { ok: false, check: "missing-header", message: "webhook-signature header is missing" };
    const seconds = parseTimestamp(timestamp);
    if (seconds === null) {
      return { ok: false, check: "malformed-header", message: "webhook-timestamp is not unix seconds" };
    }
    const received = v1Signatures(signature);
    if (received.length === 0) {
      return { ok: false, check: "malformed-header", message: "webhook-signature has no v1 signature" };
    }
    const expected = options.secrets
      .map(signingKey)
      .filter((key) => key.length > 0)
      .map((key) => hmac("sha256", key, [`${id}.${timestamp}.`, request.rawBody], "base64"));
    if (!anySignatureMatches(expected, received)) {
      return { ok: false, check: "signature", message: "no v1 signature in webhook-signature matches" };
    }
    return checkTimestamp("webhook-timestamp", seconds, "s", options) ?? { ok: true };
  },

  parse(request) {
    const { value: payload, text } = parseJsonBody(request.rawBody, "Standard Webhooks body");
    if (!isJsonObject(payload)) throw new UnparseableBodyError("Standard Webhooks body is not a JSON object");
    return {
      events: [
        {
          type: requireString(payload, "type", "Standard Webhooks body"),
          // webhook-id is the message id, the same on every retry of the message.
          dedupKey: request.headers["webhook-id"] || bodyDedupKey(request.rawBody),
          payload,
          payloadJson: text,
        },
      ],
    };
  },

  deliveryIdFromHeaders: (request) => request.headers["webhook-id"] || null,
};
