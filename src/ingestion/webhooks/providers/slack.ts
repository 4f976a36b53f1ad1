/**
 * Slack: `X-Slack-Signature: v0=<hex>`, HMAC-SHA256 of `v0:${timestamp}:${body}`
 * keyed by the app's signing secret, with `X-Slack-Request-Timestamp` in seconds
 * (https://api.slack.com/authentication/verifying-requests-from-slack).
 *
 * One endpoint receives three shapes: Events API JSON (`url_verification`,
 * `event_callback`), interactivity as a form with a JSON `payload` field, and
 * slash commands as plain form fields.
 */
import {
  anySignatureMatches,
  bodyDedupKey,
  checkTimestamp,
  type FormParams,
  formParamsToObject,
  hmac,
  isJsonObject,
  parseBody,
  parseJsonBody,
  parseTimestamp,
  requireString,
} from "../hmac.ts";
import {
  type ParsedWebhook,
  UnparseableBodyError,
  type WebhookProvider,
  type WebhookRequest,
} from "../webhook-provider.ts";

const signaturePrefix = "v0=";

function parseEventsApi(request: WebhookRequest, body: Record<string, unknown>, payloadJson: string): ParsedWebhook {
  const type = requireString(body, "type", "Slack request");
  if (type === "url_verification") {
    // Slack confirms the endpoint by expecting its challenge echoed back; it is not an event.
    const challenge = requireString(body, "challenge", "Slack url_verification");
    return { events: [], reply: { status: 200, contentType: "text/plain", body: challenge } };
  }
  if (type === "event_callback") {
    const event = body.event;
    if (!isJsonObject(event)) throw new UnparseableBodyError("Slack event_callback has no event object");
    // event_id is stable across Slack's retries (X-Slack-Retry-Num), so retries dedupe.
    const dedupKey = requireString(body, "event_id", "Slack event_callback");
    return { events: [{ type: requireString(event, "type", "Slack event"), dedupKey, payload: body, payloadJson }] };
  }
  return { events: [{ type, dedupKey: bodyDedupKey(request.rawBody), payload: body, payloadJson }] };
}

function parseForm(request: WebhookRequest, params: FormParams): ParsedWebhook {
  const payloadField = params.get("payload")?.[0];
  if (payloadField !== undefined) {
    const { value: payload, text } = parseJsonBody(payloadField, "Slack interactivity payload");
    if (!isJsonObject(payload)) throw new UnparseableBodyError("Slack interactivity payload is not a JSON object");
    const type = requireString(payload, "type", "Slack interactivity payload");
    return { events: [{ type, dedupKey: bodyDedupKey(request.rawBody), payload, payloadJson: text }] };
  }
  if (params.has("command")) {
    return {
      events: [{ type: "slash_command", dedupKey: bodyDedupKey(request.rawBody), payload: formParamsToObject(params) }],
    };
  }
  throw new UnparseableBodyError("form-encoded Slack request has neither a payload nor a command field");
}

export const slackProvider: WebhookProvider = {
  name: "slack",

  verify(request, options) {
    const signature = request.headers["x-slack-signature"];
    const timestamp = request.headers["x-slack-request-timestamp"];
    if (!signature) return { ok: false, check: "missing-header", message: "X-Slack-Signature header is missing" };
    if (!timestamp) {
      return { ok: false, check: "missing-header", message: "X-Slack-Request-Timestamp header is missing" };
    }
    if (!signature.startsWith(signaturePrefix)) {
      return { ok: false, check: "malformed-header", message: "X-Slack-Signature does not start with v0=" };
    }
    const seconds = parseTimestamp(timestamp);
    if (seconds === null) {
      return { ok: false, check: "malformed-header", message: "X-Slack-Request-Timestamp is not unix seconds" };
    }
    const expected = options.secrets.map((secret) =>
      hmac("sha256", secret, [`v0:${timestamp}:`, request.rawBody], "hex"),
    );
    if (!anySignatureMatches(expected, [signature.slice(signaturePrefix.length)])) {
      return { ok: false, check: "signature", message: "X-Slack-Signature does not match the timestamp and body" };
    }
    return checkTimestamp("X-Slack-Request-Timestamp", seconds, "s", options) ?? { ok: true };
  },

  parse(request) {
    const body = parseBody(request);
    if (body.kind === "form") return parseForm(request, body.params);
    if (!isJsonObject(body.value)) throw new UnparseableBodyError("Slack request body is not a JSON object");
    return parseEventsApi(request, body.value, body.text);
  },

  // Slack sends no delivery id header; event_id is in the body.
  deliveryIdFromHeaders: () => null,
};
