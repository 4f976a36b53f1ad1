/**
 * Twilio: `X-Twilio-Signature` is the base64 HMAC-SHA1, keyed by the auth token,
 * of the full URL followed by every POST form field as name+value, names sorted
 * (https://www.twilio.com/docs/usage/webhooks/webhooks-security). A JSON body is
 * not signed directly: the URL carries `bodySHA256=<hex>`, the signature covers
 * the URL alone, and the body must hash to that value.
 */
import {
  anySignatureMatches,
  bodyDedupKey,
  constantTimeEqual,
  type FormParams,
  formParamsToObject,
  hmac,
  isFormEncoded,
  isJsonObject,
  parseBody,
  parseFormParams,
  sha256Hex,
} from "../hmac.ts";
import type { WebhookProvider } from "../webhook-provider.ts";

/**
 * The URL as received, plus the same URL with the scheme's default port added
 * (when it has none) or removed (when it is the default): Twilio signs the URL as
 * configured, which may or may not spell `:443`, and twilio's `validateRequest`
 * accepts both spellings. A non-default port is signed as is.
 */
function urlSpellings(url: string): string[] {
  const match = /^(https?):\/\/([^/?#]*@)?(\[[^\]]*\]|[^/?#:]*)(:\d*)?(.*)$/is.exec(url);
  if (!match) return [url];
  const [, scheme = "", userInfo = "", host = "", port, rest = ""] = match;
  const defaultPort = scheme.toLowerCase() === "https" ? ":443" : ":80";
  if (port === undefined) return [url, `${scheme}://${userInfo}${host}${defaultPort}${rest}`];
  if (port === defaultPort) return [url, `${scheme}://${userInfo}${host}${rest}`];
  return [url];
}

/** Names sorted, each followed by its value; a repeated name contributes each distinct value in sorted order, as twilio's library signs it. */
function signedParams(params: FormParams): string {
  let signed = "";
  for (const name of [...params.keys()].sort()) {
    for (const value of [...new Set(params.get(name))].sort()) signed += name + value;
  }
  return signed;
}

function bodySha256FromUrl(url: string): string | null {
  try {
    return new URL(url).searchParams.get("bodySHA256");
  } catch {
    return null;
  }
}

/** `message.delivered`, `call.completed`, `message.inbound`: the status callbacks and inbound messages a trigger tells apart. */
function twilioEventType(params: unknown): string {
  if (!isJsonObject(params)) return "twilio.webhook";
  const messageStatus = params.MessageStatus ?? params.SmsStatus;
  if (typeof messageStatus === "string") return `message.${messageStatus}`;
  if (typeof params.CallStatus === "string") return `call.${params.CallStatus}`;
  if (typeof params.Body === "string") return "message.inbound";
  return "twilio.webhook";
}

export const twilioProvider: WebhookProvider = {
  name: "twilio",

  verify(request, options) {
    const signature = request.headers["x-twilio-signature"];
    if (!signature) return { ok: false, check: "missing-header", message: "X-Twilio-Signature header is missing" };
    const bodyHash = bodySha256FromUrl(request.url);
    // Only form parameters are part of the signature; any other body is authenticated by bodySHA256 alone.
    if (bodyHash === null && !isFormEncoded(request) && request.rawBody.length > 0) {
      return {
        ok: false,
        check: "signature",
        message: "a body that is not form-encoded must be covered by bodySHA256 in the URL",
      };
    }
    const params =
      bodyHash === null && isFormEncoded(request) ? parseFormParams(request.rawBody.toString("utf8")) : null;
    const signed = urlSpellings(request.url).map((url) => url + (params ? signedParams(params) : ""));
    const expected = options.secrets.flatMap((secret) => signed.map((data) => hmac("sha1", secret, [data], "base64")));
    if (!anySignatureMatches(expected, [signature])) {
      const what = params ? "the URL and form parameters" : "the URL";
      return { ok: false, check: "signature", message: `X-Twilio-Signature does not match ${what}` };
    }
    if (bodyHash !== null && !constantTimeEqual(sha256Hex(request.rawBody), bodyHash)) {
      return { ok: false, check: "signature", message: "body does not match the bodySHA256 in the URL" };
    }
    return { ok: true };
  },

  parse(request) {
    const body = parseBody(request);
    const payload = body.kind === "form" ? formParamsToObject(body.params) : body.value;
    const dedupKey = request.headers["i-twilio-idempotency-token"] || bodyDedupKey(request.rawBody);
    const payloadJson = body.kind === "json" ? { payloadJson: body.text } : {};
    return { events: [{ type: twilioEventType(payload), dedupKey, payload, ...payloadJson }] };
  },

  deliveryIdFromHeaders: (request) => request.headers["i-twilio-idempotency-token"] || null,
};
