import { createHash } from "node:crypto";
import { Webhook } from "standardwebhooks";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { standardWebhooksProvider } from "../../../../src/ingestion/webhooks/providers/standard-webhooks.ts";
import { UnparseableBodyError, type WebhookRequest } from "../../../../src/ingestion/webhooks/webhook-provider.ts";

// Oracle: the `standardwebhooks` reference library — Webhook#sign signs, Webhook#verify
// verifies. verify reads Date.now(), so the system clock is pinned to `now`.
const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const oldSecret = "whsec_c2VjcmV0LW9mLXRoZS1wcmV2aW91cy1wZXJpb2Q=";
const now = Date.UTC(2025, 5, 1, 12, 0, 0);
const nowSec = now / 1000;
const id = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W";
const payload = JSON.stringify({ type: "invoice.paid", timestamp: "2025-06-01T12:00:00Z", data: { id: "inv_1" } });

function sign(options: { body?: string; timestamp?: number; key?: string; msgId?: string } = {}): string {
  const timestamp = options.timestamp ?? nowSec;
  return new Webhook(options.key ?? secret).sign(
    options.msgId ?? id,
    new Date(timestamp * 1000),
    options.body ?? payload,
  );
}

function request(
  options: { body?: string; timestamp?: number; signature?: string; headers?: Record<string, string | undefined> } = {},
): WebhookRequest {
  const timestamp = options.timestamp ?? nowSec;
  return {
    method: "POST",
    url: "https://hooks.example.com/hooks/svix",
    headers: {
      "content-type": "application/json",
      "webhook-id": id,
      "webhook-timestamp": String(timestamp),
      "webhook-signature": options.signature ?? sign({ ...options, timestamp }),
      ...options.headers,
    },
    rawBody: Buffer.from(options.body ?? payload),
  };
}

function libraryAccepts(req: WebhookRequest, key = secret): boolean {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) if (value !== undefined) headers[name] = value;
  try {
    new Webhook(key).verify(req.rawBody.toString(), headers);
    return true;
  } catch {
    return false;
  }
}

function verify(req: WebhookRequest, secrets: string[] = [secret]) {
  return standardWebhooksProvider.verify(req, { secrets, now });
}

describe("Standard Webhooks signature verification", () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(now);
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("accepts a message signed by the standardwebhooks library, as its verify does", () => {
    const req = request();
    expect(libraryAccepts(req)).toBe(true);
    expect(verify(req)).toEqual({ ok: true });
  });

  it("rejects a tampered body, as the library does", () => {
    const req = { ...request(), rawBody: Buffer.from(payload.replace("inv_1", "inv_2")) };
    expect(libraryAccepts(req)).toBe(false);
    expect(verify(req)).toEqual({
      ok: false,
      check: "signature",
      message: "no v1 signature in webhook-signature matches",
    });
  });

  it("rejects a tampered signature or message id, as the library does", () => {
    const signature = sign();
    const tampered = request({ signature: signature.replace(/,./, (prefix) => (prefix === ",A" ? ",B" : ",A")) });
    expect(libraryAccepts(tampered)).toBe(false);
    expect(verify(tampered)).toMatchObject({ check: "signature" });
    const otherId = request({ headers: { "webhook-id": "msg_other" } });
    expect(libraryAccepts(otherId)).toBe(false);
    expect(verify(otherId)).toMatchObject({ check: "signature" });
  });

  it("rejects a signature made with another secret", () => {
    const req = request({ signature: sign({ key: "whsec_c29tZW9uZS1lbHNlLXNlY3JldA==" }) });
    expect(libraryAccepts(req)).toBe(false);
    expect(verify(req)).toMatchObject({ check: "signature" });
  });

  it("during a rotation accepts a signature made with either active secret, alone or side by side", () => {
    expect(verify(request(), [oldSecret, secret])).toEqual({ ok: true });
    const signedWithOld = request({ signature: sign({ key: oldSecret }) });
    expect(libraryAccepts(signedWithOld, oldSecret)).toBe(true);
    expect(verify(signedWithOld, [oldSecret, secret])).toEqual({ ok: true });
    // A sender mid-rotation puts both signatures in the header.
    const both = request({ signature: `${sign({ key: oldSecret })} ${sign()}` });
    expect(libraryAccepts(both)).toBe(true);
    expect(verify(both)).toEqual({ ok: true });
  });

  it("ignores signature versions other than v1", () => {
    const req = request({ signature: `v1a,${"A".repeat(86)}== ${sign()}` });
    expect(libraryAccepts(req)).toBe(true);
    expect(verify(req)).toEqual({ ok: true });
    expect(verify(request({ signature: `v1a,${"A".repeat(86)}==` }))).toEqual({
      ok: false,
      check: "malformed-header",
      message: "webhook-signature has no v1 signature",
    });
  });

  it("accepts a secret configured without the whsec_ prefix", () => {
    expect(verify(request(), [secret.slice("whsec_".length)])).toEqual({ ok: true });
  });

  it("rejects missing headers, as the library does", () => {
    for (const name of ["webhook-id", "webhook-timestamp", "webhook-signature"]) {
      const req = request({ headers: { [name]: undefined } });
      expect(libraryAccepts(req)).toBe(false);
      expect(verify(req)).toEqual({ ok: false, check: "missing-header", message: `${name} header is missing` });
    }
  });

  it("rejects stale and future timestamps, as the library does", () => {
    const stale = request({ timestamp: nowSec - 301 });
    expect(libraryAccepts(stale)).toBe(false);
    expect(verify(stale)).toEqual({
      ok: false,
      check: "timestamp",
      message: "webhook-timestamp is 301 s in the past; tolerance is ±300 s",
    });
    const future = request({ timestamp: nowSec + 301 });
    expect(libraryAccepts(future)).toBe(false);
    expect(verify(future)).toEqual({
      ok: false,
      check: "timestamp",
      message: "webhook-timestamp is 301 s in the future; tolerance is ±300 s",
    });
    expect(verify(request({ timestamp: nowSec - 300 }))).toEqual({ ok: true });
  });
});

describe("Standard Webhooks events", () => {
  it("takes the type from the body and dedupes on webhook-id", () => {
    expect(standardWebhooksProvider.parse(request()).events).toEqual([
      { type: "invoice.paid", dedupKey: id, payload: JSON.parse(payload), payloadJson: payload },
    ]);
    expect(standardWebhooksProvider.deliveryIdFromHeaders(request())).toBe(id);
  });

  it("dedupes on the body hash when webhook-id is absent", () => {
    const req = request({ headers: { "webhook-id": undefined } });
    const bodyHash = createHash("sha256").update(payload).digest("hex");
    expect(standardWebhooksProvider.parse(req).events[0]?.dedupKey).toBe(`sha256:${bodyHash}`);
    expect(standardWebhooksProvider.deliveryIdFromHeaders(req)).toBeNull();
  });

  it("treats a body without a type, or not JSON, as unparseable", () => {
    expect(() => standardWebhooksProvider.parse(request({ body: '{"data":{}}' }))).toThrow(UnparseableBodyError);
    expect(() => standardWebhooksProvider.parse(request({ body: "plain text" }))).toThrow(UnparseableBodyError);
  });
});
