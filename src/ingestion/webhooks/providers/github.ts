/**
 * GitHub: `X-Hub-Signature-256: sha256=<hex>`, HMAC-SHA256 of the raw body keyed
 * by the webhook secret (https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries).
 * A webhook can be configured to deliver `application/x-www-form-urlencoded`,
 * the JSON then sits in a `payload` field; the signature still covers the raw body.
 */
import { anySignatureMatches, bodyDedupKey, hmac, isJsonObject, parseBody, parseJsonBody } from "../hmac.ts";
import { UnparseableBodyError, type WebhookProvider, type WebhookRequest } from "../webhook-provider.ts";

const signaturePrefix = "sha256=";

/** The delivery's JSON object and the text it was parsed from (the body, or its form field). */
function readPayload(request: WebhookRequest): { payload: Record<string, unknown>; payloadJson: string } {
  const body = parseBody(request);
  let parsed: { value: unknown; text: string };
  if (body.kind === "json") parsed = body;
  else {
    const field = body.params.get("payload")?.[0];
    if (field === undefined) throw new UnparseableBodyError("form-encoded GitHub delivery has no payload field");
    parsed = parseJsonBody(field, "GitHub payload field");
  }
  if (!isJsonObject(parsed.value)) throw new UnparseableBodyError("GitHub payload is not a JSON object");
  return { payload: parsed.value, payloadJson: parsed.text };
}

export const githubProvider: WebhookProvider = {
  name: "github",

  verify(request, options) {
    const header = request.headers["x-hub-signature-256"];
    if (!header) return { ok: false, check: "missing-header", message: "X-Hub-Signature-256 header is missing" };
    if (!header.startsWith(signaturePrefix)) {
      return { ok: false, check: "malformed-header", message: "X-Hub-Signature-256 does not start with sha256=" };
    }
    const expected = options.secrets.map((secret) => hmac("sha256", secret, [request.rawBody], "hex"));
    if (!anySignatureMatches(expected, [header.slice(signaturePrefix.length)])) {
      return { ok: false, check: "signature", message: "X-Hub-Signature-256 does not match the body" };
    }
    return { ok: true };
  },

  parse(request) {
    const { payload, payloadJson } = readPayload(request);
    // GitHub always names the event; a signed request without it still gets a generic type.
    const event = request.headers["x-github-event"] || "github.webhook";
    // The action (`opened`, `closed`, …) is what a trigger usually cares about: `pull_request.opened`.
    const type = typeof payload.action === "string" ? `${event}.${payload.action}` : event;
    return {
      events: [
        { type, dedupKey: request.headers["x-github-delivery"] || bodyDedupKey(request.rawBody), payload, payloadJson },
      ],
    };
  },

  deliveryIdFromHeaders: (request) => request.headers["x-github-delivery"] || null,
};
