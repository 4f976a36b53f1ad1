import { createHash } from "node:crypto";
import twilio from "twilio";
import { describe, expect, it } from "vitest";
import { twilioProvider } from "../../../../src/ingestion/webhooks/providers/twilio.ts";
import { UnparseableBodyError, type WebhookRequest } from "../../../../src/ingestion/webhooks/webhook-provider.ts";

// Oracle: the official `twilio` package — getExpectedTwilioSignature signs,
// validateRequest / validateRequestWithBody verify (its default export works under ESM).
const { getExpectedBodyHash, getExpectedTwilioSignature, validateRequest, validateRequestWithBody } = twilio;

const token = "12345678901234567890123456789012";
const oldToken = "abcdefabcdefabcdefabcdefabcdefab";
const now = Date.UTC(2025, 5, 1, 12, 0, 0);
const url = "https://hooks.example.com/hooks/sms?tenant=acme";
const params = {
  MessageSid: "SM0123456789abcdef0123456789abcdef",
  AccountSid: "AC0123456789abcdef0123456789abcdef",
  From: "+14155550100",
  To: "+14155550199",
  Body: "Hello & welcome = yes",
  SmsStatus: "received",
};

type Params = Record<string, string | string[]>;

function formBody(fields: Params): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(fields)) {
    for (const item of Array.isArray(value) ? value : [value]) search.append(name, item);
  }
  return search.toString();
}

function formRequest(
  fields: Params,
  options: { url?: string; signature?: string; headers?: Record<string, string | undefined> } = {},
): WebhookRequest {
  return {
    method: "POST",
    url: options.url ?? url,
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      "x-twilio-signature": options.signature ?? getExpectedTwilioSignature(token, options.url ?? url, fields),
      "i-twilio-idempotency-token": "4b6b6f8c-1d1e-4d3a-9a51-0a7f6d1c2b3e",
      ...options.headers,
    },
    rawBody: Buffer.from(formBody(fields)),
  };
}

function verify(req: WebhookRequest, secrets: string[] = [token]) {
  return twilioProvider.verify(req, { secrets, now });
}

describe("Twilio signature verification, form-encoded", () => {
  it("accepts a request signed by the twilio package, as its validateRequest does", () => {
    const req = formRequest(params);
    expect(validateRequest(token, req.headers["x-twilio-signature"] ?? "", url, params)).toBe(true);
    expect(verify(req)).toEqual({ ok: true });
  });

  it("rejects a tampered parameter, as twilio does", () => {
    const signature = getExpectedTwilioSignature(token, url, params);
    const tampered = { ...params, Body: "Send me the codes" };
    expect(validateRequest(token, signature, url, tampered)).toBe(false);
    expect(verify(formRequest(tampered, { signature }))).toEqual({
      ok: false,
      check: "signature",
      message: "X-Twilio-Signature does not match the URL and form parameters",
    });
  });

  it("rejects a tampered signature or URL, as twilio does", () => {
    const signature = getExpectedTwilioSignature(token, url, params);
    const tamperedSignature = `${signature.startsWith("A") ? "B" : "A"}${signature.slice(1)}`;
    expect(validateRequest(token, tamperedSignature, url, params)).toBe(false);
    expect(verify(formRequest(params, { signature: tamperedSignature }))).toMatchObject({ check: "signature" });
    const otherUrl = "https://hooks.example.com/hooks/sms?tenant=evil";
    expect(validateRequest(token, signature, otherUrl, params)).toBe(false);
    expect(verify(formRequest(params, { signature, url: otherUrl }))).toMatchObject({ check: "signature" });
  });

  it("rejects a signature made with another auth token", () => {
    const signature = getExpectedTwilioSignature("someone-else", url, params);
    expect(validateRequest(token, signature, url, params)).toBe(false);
    expect(verify(formRequest(params, { signature }))).toMatchObject({ check: "signature" });
  });

  it("during a rotation accepts a signature made with either active auth token", () => {
    expect(verify(formRequest(params), [oldToken, token])).toEqual({ ok: true });
    const signature = getExpectedTwilioSignature(oldToken, url, params);
    expect(verify(formRequest(params, { signature }), [oldToken, token])).toEqual({ ok: true });
  });

  it("rejects a missing header", () => {
    expect(verify(formRequest(params, { headers: { "x-twilio-signature": undefined } }))).toEqual({
      ok: false,
      check: "missing-header",
      message: "X-Twilio-Signature header is missing",
    });
  });

  it("accepts the URL with and without the default port, as twilio's validateRequest does", () => {
    const withPort = "https://hooks.example.com:443/hooks/sms?tenant=acme";
    const signedWithPort = getExpectedTwilioSignature(token, withPort, params);
    expect(validateRequest(token, signedWithPort, url, params)).toBe(true);
    expect(verify(formRequest(params, { signature: signedWithPort, url }))).toEqual({ ok: true });

    const signedWithoutPort = getExpectedTwilioSignature(token, url, params);
    expect(validateRequest(token, signedWithoutPort, withPort, params)).toBe(true);
    expect(verify(formRequest(params, { signature: signedWithoutPort, url: withPort }))).toEqual({ ok: true });

    const http = "http://hooks.example.com/hooks/sms";
    const signedWithPort80 = getExpectedTwilioSignature(token, "http://hooks.example.com:80/hooks/sms", params);
    expect(verify(formRequest(params, { signature: signedWithPort80, url: http }))).toEqual({ ok: true });
  });

  it("signs a non-default port as it is", () => {
    const custom = "https://hooks.example.com:8443/hooks/sms";
    expect(verify(formRequest(params, { url: custom }))).toEqual({ ok: true });
    const signedWithoutPort = getExpectedTwilioSignature(token, "https://hooks.example.com/hooks/sms", params);
    expect(verify(formRequest(params, { url: custom, signature: signedWithoutPort }))).toMatchObject({
      check: "signature",
    });
  });

  it("signs a repeated parameter's values in sorted order, as twilio does", () => {
    const repeated = { To: "+14155550199", MediaUrl: ["https://b.example/2.jpg", "https://a.example/1.jpg"] };
    const signature = getExpectedTwilioSignature(token, url, repeated);
    expect(validateRequest(token, signature, url, repeated)).toBe(true);
    expect(verify(formRequest(repeated, { signature }))).toEqual({ ok: true });
  });
});

describe("Twilio signature verification, JSON body", () => {
  const body = JSON.stringify({ event: "onMessageAdded", ConversationSid: "CH1", Body: "hi" });
  const jsonUrl = `https://hooks.example.com/hooks/conversations?bodySHA256=${getExpectedBodyHash(body)}`;

  function jsonRequest(rawBody: string, signature = getExpectedTwilioSignature(token, jsonUrl, {})): WebhookRequest {
    return {
      method: "POST",
      url: jsonUrl,
      headers: { "content-type": "application/json", "x-twilio-signature": signature },
      rawBody: Buffer.from(rawBody),
    };
  }

  it("accepts a URL-signed request whose body matches bodySHA256, as validateRequestWithBody does", () => {
    const signature = getExpectedTwilioSignature(token, jsonUrl, {});
    expect(validateRequestWithBody(token, signature, jsonUrl, body)).toBe(true);
    expect(verify(jsonRequest(body))).toEqual({ ok: true });
  });

  it("rejects a body that does not match bodySHA256, saying so", () => {
    const tampered = body.replace("hi", "bye");
    expect(validateRequestWithBody(token, getExpectedTwilioSignature(token, jsonUrl, {}), jsonUrl, tampered)).toBe(
      false,
    );
    expect(verify(jsonRequest(tampered))).toEqual({
      ok: false,
      check: "signature",
      message: "body does not match the bodySHA256 in the URL",
    });
  });

  it("rejects a signature that does not cover the URL, saying so", () => {
    const signature = getExpectedTwilioSignature("someone-else", jsonUrl, {});
    expect(validateRequestWithBody(token, signature, jsonUrl, body)).toBe(false);
    expect(verify(jsonRequest(body, signature))).toEqual({
      ok: false,
      check: "signature",
      message: "X-Twilio-Signature does not match the URL",
    });
  });
});

describe("Twilio events", () => {
  it("types an inbound SMS by its status and dedupes on the idempotency token", () => {
    const req = formRequest(params);
    expect(twilioProvider.parse(req).events).toEqual([
      { type: "message.received", dedupKey: "4b6b6f8c-1d1e-4d3a-9a51-0a7f6d1c2b3e", payload: params },
    ]);
    expect(twilioProvider.deliveryIdFromHeaders(req)).toBe("4b6b6f8c-1d1e-4d3a-9a51-0a7f6d1c2b3e");
  });

  it("types status callbacks, inbound messages without a status, and anything else", () => {
    const typeOf = (fields: Params) => twilioProvider.parse(formRequest(fields)).events[0]?.type;
    expect(typeOf({ MessageSid: "SM1", MessageStatus: "delivered" })).toBe("message.delivered");
    expect(typeOf({ CallSid: "CA1", CallStatus: "completed" })).toBe("call.completed");
    expect(typeOf({ MessageSid: "SM1", Body: "hi" })).toBe("message.inbound");
    expect(typeOf({ AccountSid: "AC1" })).toBe("twilio.webhook");
  });

  it("keeps a repeated parameter's values as an array", () => {
    const fields = { MessageSid: "SM1", MediaUrl0: "https://a.example/1.jpg", Tag: ["a", "b"] };
    expect(twilioProvider.parse(formRequest(fields)).events[0]?.payload).toEqual(fields);
  });

  it("dedupes on the body hash when there is no idempotency token", () => {
    const req = formRequest(params, { headers: { "i-twilio-idempotency-token": undefined } });
    const bodyHash = createHash("sha256").update(formBody(params)).digest("hex");
    expect(twilioProvider.parse(req).events[0]?.dedupKey).toBe(`sha256:${bodyHash}`);
    expect(twilioProvider.deliveryIdFromHeaders(req)).toBeNull();
  });

  it("reads a JSON body, and treats a JSON body that is not JSON as unparseable", () => {
    const req = { ...formRequest({}), headers: { "content-type": "application/json" } };
    const json = { ...req, rawBody: Buffer.from('{"CallStatus":"ringing"}') };
    expect(twilioProvider.parse(json).events[0]?.type).toBe("call.ringing");
    expect(() => twilioProvider.parse({ ...req, rawBody: Buffer.from("{nope") })).toThrow(UnparseableBodyError);
  });
});
