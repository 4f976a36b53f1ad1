/**
 * HubSpot, signature v3: `X-HubSpot-Signature-v3` is the base64 HMAC-SHA256,
 * keyed by the app's client secret, of `${method}${uri}${body}${timestamp}`, with
 * `X-HubSpot-Request-Timestamp` in MILLISECONDS
 * (https://developers.hubspot.com/docs/apps/legacy-apps/authentication/validating-requests#validate-the-v3-request-signature).
 * v1/v2 signatures carry no timestamp and are not accepted.
 */
import {
  anySignatureMatches,
  checkTimestamp,
  hmac,
  isJsonObject,
  parseJson,
  parseTimestamp,
  requireString,
} from "../hmac.ts";
import { type InboundEvent, UnparseableBodyError, type WebhookProvider } from "../webhook-provider.ts";

/** The escapes HubSpot's docs say it decodes in the URI before signing; every other escape stays as sent. */
const decodedBeforeSigning: Readonly<Record<string, string>> = {
  "%3A": ":",
  "%2F": "/",
  "%3F": "?",
  "%40": "@",
  "%21": "!",
  "%24": "$",
  "%27": "'",
  "%28": "(",
  "%29": ")",
  "%2A": "*",
  "%2C": ",",
  "%3B": ";",
};

/**
 * The URI as received and as HubSpot's docs say it is signed. `@hubspot/api-client`'s
 * `Signature.isValid` signs whatever URL it is given, so a caller passing the raw
 * URL and one passing the decoded URL both verify; accepting both spellings does the same.
 */
function uriSpellings(url: string): string[] {
  const decoded = url.replace(
    /%[0-9A-Fa-f]{2}/g,
    (sequence) => decodedBeforeSigning[sequence.toUpperCase()] ?? sequence,
  );
  return decoded === url ? [url] : [url, decoded];
}

function toEvent(element: unknown, index: number): InboundEvent {
  if (!isJsonObject(element)) throw new UnparseableBodyError(`HubSpot event ${index} is not a JSON object`);
  const eventId = element.eventId;
  if (typeof eventId !== "number" && typeof eventId !== "string") {
    throw new UnparseableBodyError(`HubSpot event ${index} has no eventId`);
  }
  return {
    type: requireString(element, "subscriptionType", `HubSpot event ${index}`),
    dedupKey: String(eventId),
    payload: element,
  };
}

export const hubspotProvider: WebhookProvider = {
  name: "hubspot",

  verify(request, options) {
    const signature = request.headers["x-hubspot-signature-v3"];
    const timestamp = request.headers["x-hubspot-request-timestamp"];
    if (!signature) return { ok: false, check: "missing-header", message: "X-HubSpot-Signature-v3 header is missing" };
    if (!timestamp) {
      return { ok: false, check: "missing-header", message: "X-HubSpot-Request-Timestamp header is missing" };
    }
    const milliseconds = parseTimestamp(timestamp);
    if (milliseconds === null) {
      return { ok: false, check: "malformed-header", message: "X-HubSpot-Request-Timestamp is not unix milliseconds" };
    }
    const uris = uriSpellings(request.url);
    const expected = options.secrets.flatMap((secret) =>
      uris.map((uri) => hmac("sha256", secret, [request.method, uri, request.rawBody, timestamp], "base64")),
    );
    if (!anySignatureMatches(expected, [signature])) {
      return {
        ok: false,
        check: "signature",
        message: "X-HubSpot-Signature-v3 does not match the method, URL, body and timestamp",
      };
    }
    return checkTimestamp("X-HubSpot-Request-Timestamp", milliseconds, "ms", options) ?? { ok: true };
  },

  parse(request) {
    // HubSpot batches up to 100 events in one request; each is stored and deduped on its own.
    const batch = parseJson(request.rawBody, "HubSpot webhook body");
    if (!Array.isArray(batch)) throw new UnparseableBodyError("HubSpot webhook body is not a JSON array of events");
    return { events: batch.map(toEvent) };
  },

  // HubSpot sends no delivery id header; each event's eventId is in the body.
  deliveryIdFromHeaders: () => null,
};
