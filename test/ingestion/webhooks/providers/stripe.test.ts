import Stripe from "stripe";
import { describe, expect, it } from "vitest";
import { stripeProvider } from "../../../../src/ingestion/webhooks/providers/stripe.ts";
import { UnparseableBodyError, type WebhookRequest } from "../../../../src/ingestion/webhooks/webhook-provider.ts";

// Oracle: the official `stripe` package signs (generateTestHeaderString) and verifies (constructEvent).
const stripe = new Stripe("sk_test_x");
const secret = "whsec_test_current";
const oldSecret = "whsec_test_previous";
const now = Date.UTC(2025, 5, 1, 12, 0, 0);
const nowSec = now / 1000;
const payload = JSON.stringify({
  id: "evt_1",
  object: "event",
  type: "invoice.paid",
  data: { object: { id: "in_1" } },
});

function sign(options: { body?: string; key?: string; timestamp?: number } = {}): string {
  return stripe.webhooks.generateTestHeaderString({
    payload: options.body ?? payload,
    secret: options.key ?? secret,
    timestamp: options.timestamp ?? nowSec,
  });
}

function request(body: string, signature: string | undefined): WebhookRequest {
  return {
    method: "POST",
    url: "https://hooks.example.com/hooks/stripe",
    headers: { "content-type": "application/json", "stripe-signature": signature },
    rawBody: Buffer.from(body),
  };
}

function verify(req: WebhookRequest, secrets: string[] = [secret]) {
  return stripeProvider.verify(req, { secrets, now });
}

function stripeAccepts(body: string, header: string, key = secret): boolean {
  try {
    stripe.webhooks.constructEvent(body, header, key, 300, undefined, now);
    return true;
  } catch {
    return false;
  }
}

describe("Stripe signature verification", () => {
  it("accepts a request signed by the stripe package, as the package itself does", () => {
    const header = sign();
    expect(stripeAccepts(payload, header)).toBe(true);
    expect(verify(request(payload, header))).toEqual({ ok: true });
  });

  it("rejects a tampered body, as the stripe package does", () => {
    const tampered = payload.replace("invoice.paid", "invoice.voided");
    expect(stripeAccepts(tampered, sign())).toBe(false);
    expect(verify(request(tampered, sign()))).toMatchObject({
      ok: false,
      check: "signature",
      message: "no v1 signature in Stripe-Signature matches",
    });
  });

  it("rejects a tampered signature", () => {
    const header = sign().replace(/v1=(.)/, (_, first: string) => `v1=${first === "0" ? "1" : "0"}`);
    expect(stripeAccepts(payload, header)).toBe(false);
    expect(verify(request(payload, header))).toMatchObject({ ok: false, check: "signature" });
  });

  it("rejects a signature made with another secret", () => {
    const header = sign({ key: "whsec_someone_else" });
    expect(stripeAccepts(payload, header)).toBe(false);
    expect(verify(request(payload, header))).toMatchObject({ ok: false, check: "signature" });
  });

  it("signs with the whole secret, whsec_ prefix included", () => {
    const header = sign({ key: secret });
    expect(verify(request(payload, header), [secret.slice("whsec_".length)])).toMatchObject({ check: "signature" });
  });

  it("during a rotation accepts a signature made with either active secret", () => {
    expect(verify(request(payload, sign({ key: secret })), [oldSecret, secret])).toEqual({ ok: true });
    expect(verify(request(payload, sign({ key: oldSecret })), [oldSecret, secret])).toEqual({ ok: true });
  });

  it("accepts when any of several v1 signatures matches and ignores v0", () => {
    const valid = sign().split(",")[1];
    const header = `t=${nowSec},v1=${"0".repeat(64)},${valid},v0=${"f".repeat(64)}`;
    expect(stripeAccepts(payload, header)).toBe(true);
    expect(verify(request(payload, header))).toEqual({ ok: true });
  });

  it("rejects a missing header", () => {
    expect(verify(request(payload, undefined))).toEqual({
      ok: false,
      check: "missing-header",
      message: "Stripe-Signature header is missing",
    });
  });

  it("rejects a header without a timestamp or without a v1 signature", () => {
    const v1 = sign().split(",")[1];
    expect(verify(request(payload, `${v1}`))).toMatchObject({ ok: false, check: "malformed-header" });
    expect(verify(request(payload, `t=${nowSec},v0=abc`))).toMatchObject({
      ok: false,
      check: "malformed-header",
      message: "Stripe-Signature has no v1 signature",
    });
  });

  it("rejects a stale timestamp, as the stripe package does", () => {
    const header = sign({ timestamp: nowSec - 412 });
    expect(stripeAccepts(payload, header)).toBe(false);
    expect(verify(request(payload, header))).toEqual({
      ok: false,
      check: "timestamp",
      message: "Stripe-Signature timestamp is 412 s in the past; tolerance is ±300 s",
    });
  });

  it("rejects a timestamp too far in the future, which the stripe package lets through", () => {
    const header = sign({ timestamp: nowSec + 412 });
    // Stripe's library only bounds the age; a future timestamp means a forged or badly skewed clock.
    expect(stripeAccepts(payload, header)).toBe(true);
    expect(verify(request(payload, header))).toMatchObject({ ok: false, check: "timestamp" });
  });

  it("accepts timestamps at the edge of the tolerance and honours a configured tolerance", () => {
    expect(verify(request(payload, sign({ timestamp: nowSec - 300 })))).toEqual({ ok: true });
    expect(verify(request(payload, sign({ timestamp: nowSec + 300 })))).toEqual({ ok: true });
    const header = sign({ timestamp: nowSec - 60 });
    expect(stripeProvider.verify(request(payload, header), { secrets: [secret], now, toleranceSec: 30 })).toMatchObject(
      {
        check: "timestamp",
      },
    );
  });

  it("verifies the raw bytes, not a re-encoding of them", () => {
    const body = '{"id":"evt_2","type":"x", "text":"caf\u00e9"}';
    expect(verify(request(body, sign({ body })))).toEqual({ ok: true });
  });
});

describe("Stripe events", () => {
  it("takes the type and the event id from the body", () => {
    const parsed = stripeProvider.parse(request(payload, sign()));
    expect(parsed.events).toEqual([
      { type: "invoice.paid", dedupKey: "evt_1", payload: JSON.parse(payload), payloadJson: payload },
    ]);
    expect(stripeProvider.deliveryIdFromHeaders(request(payload, sign()))).toBeNull();
  });

  it("treats a body without an id or type, or that is not JSON, as unparseable", () => {
    expect(() => stripeProvider.parse(request('{"type":"invoice.paid"}', ""))).toThrow(UnparseableBodyError);
    expect(() => stripeProvider.parse(request('{"id":42,"type":"invoice.paid"}', ""))).toThrow(UnparseableBodyError);
    expect(() => stripeProvider.parse(request('{"id":"evt_1"}', ""))).toThrow(UnparseableBodyError);
    expect(() => stripeProvider.parse(request("id=evt_1", ""))).toThrow(UnparseableBodyError);
    expect(() => stripeProvider.parse(request("[]", ""))).toThrow(UnparseableBodyError);
  });
});
