import { createHash, createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { shopifyProvider } from "../../../../src/ingestion/webhooks/providers/shopify.ts";
import { UnparseableBodyError, type WebhookRequest } from "../../../../src/ingestion/webhooks/webhook-provider.ts";

// Shopify publishes no slim verifier package (only the whole @shopify/shopify-api app
// framework), so the oracle is its documented algorithm computed independently here:
// base64 HMAC-SHA256 of the raw body keyed by the app's client secret.
// https://shopify.dev/docs/apps/build/webhooks/subscribe/https
const secret = "shpss_current";
const oldSecret = "shpss_previous";
const now = Date.UTC(2025, 5, 1, 12, 0, 0);
const payload = JSON.stringify({ id: 820982911946154500, email: "jon@example.com", total_price: "403.00" });

function sign(body: string, key = secret): string {
  return createHmac("sha256", key).update(body, "utf8").digest("base64");
}

function request(body: string, headers: Record<string, string | undefined> = {}): WebhookRequest {
  return {
    method: "POST",
    url: "https://hooks.example.com/hooks/shopify",
    headers: {
      "content-type": "application/json",
      "x-shopify-hmac-sha256": sign(body),
      "x-shopify-topic": "orders/create",
      "x-shopify-webhook-id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
      "x-shopify-event-id": "98880550-7158-44d4-b7cd-2c97c8a091b5",
      ...headers,
    },
    rawBody: Buffer.from(body),
  };
}

function verify(req: WebhookRequest, secrets: string[] = [secret]) {
  return shopifyProvider.verify(req, { secrets, now });
}

describe("Shopify signature verification", () => {
  it("accepts a body signed per Shopify's documented algorithm", () => {
    expect(verify(request(payload))).toEqual({ ok: true });
  });

  it("agrees with a vector published by an independent implementation (SQLPage's hmac tests)", () => {
    const body = '{"id":1234567890,"email":"customer@example.com","total_price":"123.45"}';
    const published = "QNyObTlKbMx2qDlPF/ZOZcBqg5OgPg+2oky3zldc0Gw=";
    const req = request(body, { "x-shopify-hmac-sha256": published });
    expect(verify(req, ["test-webhook-secret"])).toEqual({ ok: true });
  });

  it("rejects a tampered body", () => {
    const req = request(payload, { "x-shopify-hmac-sha256": sign(payload) });
    req.rawBody = Buffer.from(payload.replace("403.00", "0.01"));
    expect(verify(req)).toEqual({
      ok: false,
      check: "signature",
      message: "X-Shopify-Hmac-Sha256 does not match the body",
    });
  });

  it("rejects a tampered signature, including a hex digest of the right HMAC", () => {
    const tampered = `A${sign(payload).slice(1)}`;
    expect(verify(request(payload, { "x-shopify-hmac-sha256": tampered }))).toMatchObject({ check: "signature" });
    const hex = createHmac("sha256", secret).update(payload).digest("hex");
    expect(verify(request(payload, { "x-shopify-hmac-sha256": hex }))).toMatchObject({ check: "signature" });
  });

  it("rejects a signature made with another secret", () => {
    const req = request(payload, { "x-shopify-hmac-sha256": sign(payload, "shpss_someone_else") });
    expect(verify(req)).toMatchObject({ ok: false, check: "signature" });
  });

  it("during a rotation accepts a signature made with either active secret", () => {
    expect(verify(request(payload), [oldSecret, secret])).toEqual({ ok: true });
    const signedWithOld = request(payload, { "x-shopify-hmac-sha256": sign(payload, oldSecret) });
    expect(verify(signedWithOld, [oldSecret, secret])).toEqual({ ok: true });
  });

  it("rejects a missing header", () => {
    expect(verify(request(payload, { "x-shopify-hmac-sha256": undefined }))).toEqual({
      ok: false,
      check: "missing-header",
      message: "X-Shopify-Hmac-Sha256 header is missing",
    });
  });
});

describe("Shopify events", () => {
  it("takes the type from the topic header and dedupes on the event id", () => {
    const parsed = shopifyProvider.parse(request(payload));
    expect(parsed.events).toEqual([
      {
        type: "orders/create",
        dedupKey: "98880550-7158-44d4-b7cd-2c97c8a091b5",
        payload: JSON.parse(payload),
        payloadJson: payload,
      },
    ]);
    expect(shopifyProvider.deliveryIdFromHeaders(request(payload))).toBe("98880550-7158-44d4-b7cd-2c97c8a091b5");
  });

  it("falls back to the webhook id, then to the body hash", () => {
    const withoutEventId = request(payload, { "x-shopify-event-id": undefined });
    expect(shopifyProvider.parse(withoutEventId).events[0]?.dedupKey).toBe("b54557e4-bdd9-4b37-8a5f-bf7d70bcd043");
    expect(shopifyProvider.deliveryIdFromHeaders(withoutEventId)).toBe("b54557e4-bdd9-4b37-8a5f-bf7d70bcd043");

    const withoutIds = request(payload, { "x-shopify-event-id": undefined, "x-shopify-webhook-id": undefined });
    const bodyHash = createHash("sha256").update(payload).digest("hex");
    expect(shopifyProvider.parse(withoutIds).events[0]?.dedupKey).toBe(`sha256:${bodyHash}`);
    expect(shopifyProvider.deliveryIdFromHeaders(withoutIds)).toBeNull();
  });

  it("types a request without a topic as shopify.webhook", () => {
    expect(shopifyProvider.parse(request(payload, { "x-shopify-topic": undefined })).events[0]?.type).toBe(
      "shopify.webhook",
    );
  });

  it("treats a body that is not JSON as unparseable", () => {
    expect(() => shopifyProvider.parse(request("<order><id>1</id></order>"))).toThrow(UnparseableBodyError);
  });
});
