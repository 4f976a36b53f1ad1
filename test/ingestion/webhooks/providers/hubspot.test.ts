import { Signature } from "@hubspot/api-client";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { hubspotProvider } from "../../../../src/ingestion/webhooks/providers/hubspot.ts";
import { UnparseableBodyError, type WebhookRequest } from "../../../../src/ingestion/webhooks/webhook-provider.ts";

// Oracle: @hubspot/api-client's Signature — getSignature("POST", "v3", …) signs,
// isValid verifies. isValid reads Date.now(), so the system clock is pinned to `now`.
const clientSecret = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy";
const oldSecret = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
const now = Date.UTC(2025, 5, 1, 12, 0, 0);
const url = "https://hooks.example.com/hooks/hubspot?portal=62515";
const batch = JSON.stringify([
  {
    eventId: 1,
    subscriptionId: 12345,
    portalId: 62515,
    occurredAt: 1564113600000,
    subscriptionType: "contact.creation",
    attemptNumber: 0,
    objectId: 123,
    changeSource: "CRM",
    changeFlag: "NEW",
    appId: 54321,
  },
  {
    eventId: 2,
    subscriptionId: 12346,
    portalId: 62515,
    occurredAt: 1564113600001,
    subscriptionType: "deal.propertyChange",
    attemptNumber: 0,
    objectId: 456,
    propertyName: "amount",
    propertyValue: "100",
    appId: 54321,
  },
]);

function sign(options: { body?: string; timestamp?: number; secret?: string; url?: string } = {}): string {
  return Signature.getSignature("POST", "v3", {
    signature: "",
    clientSecret: options.secret ?? clientSecret,
    requestBody: options.body ?? batch,
    url: options.url ?? url,
    timestamp: options.timestamp ?? now,
  });
}

function hubspotAccepts(req: WebhookRequest, secret = clientSecret, signedUrl = req.url): boolean {
  try {
    return Signature.isValid({
      signatureVersion: "v3",
      method: req.method,
      signature: req.headers["x-hubspot-signature-v3"] ?? "",
      clientSecret: secret,
      requestBody: req.rawBody.toString(),
      url: signedUrl,
      timestamp: Number(req.headers["x-hubspot-request-timestamp"]),
    });
  } catch {
    return false;
  }
}

function request(
  options: { body?: string; timestamp?: number; signature?: string; url?: string } = {},
): WebhookRequest {
  const timestamp = options.timestamp ?? now;
  return {
    method: "POST",
    url: options.url ?? url,
    headers: {
      "content-type": "application/json",
      "x-hubspot-signature-v3": options.signature ?? sign({ ...options, timestamp }),
      "x-hubspot-request-timestamp": String(timestamp),
    },
    rawBody: Buffer.from(options.body ?? batch),
  };
}

function verify(req: WebhookRequest, secrets: string[] = [clientSecret]) {
  return hubspotProvider.verify(req, { secrets, now });
}

describe("HubSpot v3 signature verification", () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(now);
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("accepts a request signed by @hubspot/api-client, as its isValid does", () => {
    const req = request();
    expect(hubspotAccepts(req)).toBe(true);
    expect(verify(req)).toEqual({ ok: true });
  });

  it("rejects a tampered body, as the api client does", () => {
    const req = { ...request(), rawBody: Buffer.from(batch.replace('"100"', '"1000000"')) };
    expect(hubspotAccepts(req)).toBe(false);
    expect(verify(req)).toEqual({
      ok: false,
      check: "signature",
      message: "X-HubSpot-Signature-v3 does not match the method, URL, body and timestamp",
    });
  });

  it("rejects a tampered signature, method or URL, as the api client does", () => {
    const signature = sign();
    const tampered = request({ signature: `${signature.startsWith("A") ? "B" : "A"}${signature.slice(1)}` });
    expect(hubspotAccepts(tampered)).toBe(false);
    expect(verify(tampered)).toMatchObject({ check: "signature" });
    const put = { ...request(), method: "PUT" };
    expect(hubspotAccepts(put)).toBe(false);
    expect(verify(put)).toMatchObject({ check: "signature" });
    const otherUrl = request({ signature, url: "https://hooks.example.com/hooks/hubspot?portal=1" });
    expect(hubspotAccepts(otherUrl)).toBe(false);
    expect(verify(otherUrl)).toMatchObject({ check: "signature" });
  });

  it("rejects a signature made with another client secret", () => {
    const req = request({ signature: sign({ secret: "someone-else" }) });
    expect(hubspotAccepts(req)).toBe(false);
    expect(verify(req)).toMatchObject({ check: "signature" });
  });

  it("during a rotation accepts a signature made with either active secret", () => {
    expect(verify(request(), [oldSecret, clientSecret])).toEqual({ ok: true });
    const signedWithOld = request({ signature: sign({ secret: oldSecret }) });
    expect(hubspotAccepts(signedWithOld, oldSecret)).toBe(true);
    expect(verify(signedWithOld, [oldSecret, clientSecret])).toEqual({ ok: true });
  });

  it("rejects missing headers and a timestamp that is not milliseconds", () => {
    const req = request();
    const without = (name: string) => ({ ...req, headers: { ...req.headers, [name]: undefined } });
    expect(verify(without("x-hubspot-signature-v3"))).toEqual({
      ok: false,
      check: "missing-header",
      message: "X-HubSpot-Signature-v3 header is missing",
    });
    expect(verify(without("x-hubspot-request-timestamp"))).toMatchObject({ check: "missing-header" });
    const iso = { ...req, headers: { ...req.headers, "x-hubspot-request-timestamp": new Date(now).toISOString() } };
    expect(verify(iso)).toMatchObject({ check: "malformed-header" });
  });

  it("reads the timestamp as milliseconds and rejects a stale one, as the api client does", () => {
    const stale = request({ timestamp: now - 301_000 });
    expect(hubspotAccepts(stale)).toBe(false);
    expect(verify(stale)).toEqual({
      ok: false,
      check: "timestamp",
      message: "X-HubSpot-Request-Timestamp is 301 s in the past; tolerance is ±300 s",
    });
    expect(verify(request({ timestamp: now - 299_000 }))).toEqual({ ok: true });
  });

  it("rejects a timestamp too far in the future, which the api client lets through", () => {
    const future = request({ timestamp: now + 301_000 });
    expect(hubspotAccepts(future)).toBe(true);
    expect(verify(future)).toMatchObject({ check: "timestamp", message: expect.stringContaining("in the future") });
  });

  it("accepts a URI signed with the escapes HubSpot decodes decoded, and one signed as received", () => {
    const received = "https://hooks.example.com/hooks/hubspot?redirect=https%3A%2F%2Fapp.example.com%2Fdone&q=a%20b";
    const asHubSpotSigns = "https://hooks.example.com/hooks/hubspot?redirect=https://app.example.com/done&q=a%20b";
    const decodedSigned = request({ url: received, signature: sign({ url: asHubSpotSigns }) });
    expect(hubspotAccepts(decodedSigned, clientSecret, asHubSpotSigns)).toBe(true);
    expect(verify(decodedSigned)).toEqual({ ok: true });
    const rawSigned = request({ url: received, signature: sign({ url: received }) });
    expect(hubspotAccepts(rawSigned)).toBe(true);
    expect(verify(rawSigned)).toEqual({ ok: true });
    // %20 is not in HubSpot's list: a signature over a fully decoded URI does not match.
    const overDecoded = request({ url: received, signature: sign({ url: decodeURIComponent(received) }) });
    expect(verify(overDecoded)).toMatchObject({ check: "signature" });
  });
});

describe("HubSpot events", () => {
  it("makes one event per element of the batch, typed by subscriptionType and deduped on eventId", () => {
    const [first, second] = JSON.parse(batch);
    expect(hubspotProvider.parse(request()).events).toEqual([
      { type: "contact.creation", dedupKey: "1", payload: first },
      { type: "deal.propertyChange", dedupKey: "2", payload: second },
    ]);
    expect(hubspotProvider.deliveryIdFromHeaders(request())).toBeNull();
  });

  it("treats a body that is not an array of identified events as unparseable", () => {
    for (const body of [
      '{"eventId":1,"subscriptionType":"contact.creation"}',
      '[{"subscriptionType":"contact.creation"}]',
      '[{"eventId":1}]',
      "[1]",
      "not json",
    ]) {
      expect(() => hubspotProvider.parse(request({ body }))).toThrow(UnparseableBodyError);
    }
  });
});
