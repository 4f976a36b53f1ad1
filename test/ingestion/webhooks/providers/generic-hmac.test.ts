import { createHash, createHmac } from "node:crypto";
import { sign as octokitSign } from "@octokit/webhooks-methods";
import { describe, expect, it } from "vitest";
import {
  type GenericHmacConfig,
  genericHmacProvider,
} from "../../../../src/ingestion/webhooks/providers/generic-hmac.ts";
import { UnparseableBodyError, type WebhookRequest } from "../../../../src/ingestion/webhooks/webhook-provider.ts";
import { ConfigurationError } from "../../../../src/sdk/errors.ts";

// No package defines "generic HMAC"; the oracles are node:crypto computed independently
// here and, for a GitHub-shaped config, GitHub's own signer (@octokit/webhooks-methods).
const secret = "generic-current";
const oldSecret = "generic-previous";
const now = Date.UTC(2025, 5, 1, 12, 0, 0);
const nowSec = now / 1000;
const payload = JSON.stringify({ event: { type: "order.shipped", id: 9001 }, data: { order: "o_1" } });

function request(headers: Record<string, string | undefined>, body = payload): WebhookRequest {
  return {
    method: "POST",
    url: "https://hooks.example.com/hooks/acme",
    headers: { "content-type": "application/json", ...headers },
    rawBody: Buffer.from(body),
  };
}

function mac(algorithm: string, key: string, data: string, encoding: "hex" | "base64"): string {
  return createHmac(algorithm, key).update(data).digest(encoding);
}

describe("generic HMAC verification, body only", () => {
  const provider = genericHmacProvider({
    signatureHeader: "X-Hub-Signature-256",
    algorithm: "sha256",
    encoding: "hex",
    prefix: "sha256=",
  });
  const verify = (req: WebhookRequest, secrets = [secret]) => provider.verify(req, { secrets, now });

  it("configured like GitHub, accepts what GitHub's own signer produces", async () => {
    expect(verify(request({ "x-hub-signature-256": await octokitSign(secret, payload) }))).toEqual({ ok: true });
  });

  it("rejects a tampered body, a tampered signature and another secret", async () => {
    const signature = await octokitSign(secret, payload);
    expect(verify(request({ "x-hub-signature-256": signature }, payload.replace("o_1", "o_2")))).toEqual({
      ok: false,
      check: "signature",
      message: "X-Hub-Signature-256 does not match the body",
    });
    const tampered = signature.replace(/.$/, (last) => (last === "0" ? "1" : "0"));
    expect(verify(request({ "x-hub-signature-256": tampered }))).toMatchObject({ check: "signature" });
    const other = await octokitSign("someone-else", payload);
    expect(verify(request({ "x-hub-signature-256": other }))).toMatchObject({ check: "signature" });
  });

  it("during a rotation accepts a signature made with either active secret", async () => {
    const signedWithOld = request({ "x-hub-signature-256": await octokitSign(oldSecret, payload) });
    expect(verify(signedWithOld, [oldSecret, secret])).toEqual({ ok: true });
    const signedWithNew = request({ "x-hub-signature-256": await octokitSign(secret, payload) });
    expect(verify(signedWithNew, [oldSecret, secret])).toEqual({ ok: true });
  });

  it("rejects a missing header and a signature without the configured prefix", () => {
    expect(verify(request({}))).toEqual({
      ok: false,
      check: "missing-header",
      message: "X-Hub-Signature-256 header is missing",
    });
    const bare = mac("sha256", secret, payload, "hex");
    expect(verify(request({ "x-hub-signature-256": bare }))).toMatchObject({ check: "malformed-header" });
  });

  it("accepts upper-case hex", () => {
    const upper = `sha256=${mac("sha256", secret, payload, "hex").toUpperCase()}`;
    expect(verify(request({ "x-hub-signature-256": upper }))).toEqual({ ok: true });
  });
});

describe("generic HMAC verification, algorithms and encodings", () => {
  for (const algorithm of ["sha1", "sha256", "sha512"] as const) {
    for (const encoding of ["hex", "base64"] as const) {
      it(`verifies ${algorithm} in ${encoding}`, () => {
        const provider = genericHmacProvider({ signatureHeader: "X-Signature", algorithm, encoding });
        const good = request({ "x-signature": mac(algorithm, secret, payload, encoding) });
        expect(provider.verify(good, { secrets: [secret], now })).toEqual({ ok: true });
        const wrongAlgorithm = algorithm === "sha1" ? "sha256" : "sha1";
        const bad = request({ "x-signature": mac(wrongAlgorithm, secret, payload, encoding) });
        expect(provider.verify(bad, { secrets: [secret], now })).toMatchObject({ check: "signature" });
      });
    }
  }
});

describe("generic HMAC verification with a signed timestamp", () => {
  const seconds = genericHmacProvider({
    signatureHeader: "X-Signature",
    algorithm: "sha256",
    encoding: "base64",
    timestampHeader: "X-Timestamp",
  });
  const millis = genericHmacProvider({
    signatureHeader: "X-Signature",
    algorithm: "sha512",
    encoding: "hex",
    timestampHeader: "X-Timestamp",
    timestampUnit: "ms",
    timestampSeparator: ":",
  });
  const signedSeconds = (timestamp: number) =>
    request({
      "x-timestamp": String(timestamp),
      "x-signature": mac("sha256", secret, `${timestamp}.${payload}`, "base64"),
    });
  const signedMillis = (timestamp: number) =>
    request({
      "x-timestamp": String(timestamp),
      "x-signature": mac("sha512", secret, `${timestamp}:${payload}`, "hex"),
    });

  it("signs the timestamp, the separator, then the body", () => {
    expect(seconds.verify(signedSeconds(nowSec), { secrets: [secret], now })).toEqual({ ok: true });
    expect(millis.verify(signedMillis(now), { secrets: [secret], now })).toEqual({ ok: true });
  });

  it("rejects a timestamp that was not signed", () => {
    const req = signedSeconds(nowSec);
    req.headers = { ...req.headers, "x-timestamp": String(nowSec - 1) };
    expect(seconds.verify(req, { secrets: [secret], now })).toEqual({
      ok: false,
      check: "signature",
      message: "X-Signature does not match the timestamp and body",
    });
  });

  it("rejects stale and future timestamps in either unit", () => {
    expect(seconds.verify(signedSeconds(nowSec - 301), { secrets: [secret], now })).toEqual({
      ok: false,
      check: "timestamp",
      message: "X-Timestamp is 301 s in the past; tolerance is ±300 s",
    });
    expect(seconds.verify(signedSeconds(nowSec + 301), { secrets: [secret], now })).toMatchObject({
      check: "timestamp",
    });
    expect(millis.verify(signedMillis(now - 300_500), { secrets: [secret], now })).toMatchObject({
      check: "timestamp",
      message: "X-Timestamp is 301 s in the past; tolerance is ±300 s",
    });
    expect(millis.verify(signedMillis(now + 300_500), { secrets: [secret], now })).toMatchObject({
      check: "timestamp",
    });
    expect(millis.verify(signedMillis(now - 300_000), { secrets: [secret], now })).toEqual({ ok: true });
  });

  it("rejects a missing or non-numeric timestamp", () => {
    const req = signedSeconds(nowSec);
    expect(
      seconds.verify({ ...req, headers: { ...req.headers, "x-timestamp": undefined } }, { secrets: [secret], now }),
    ).toEqual({ ok: false, check: "missing-header", message: "X-Timestamp header is missing" });
    expect(
      seconds.verify({ ...req, headers: { ...req.headers, "x-timestamp": "soon" } }, { secrets: [secret], now }),
    ).toMatchObject({ check: "malformed-header" });
  });
});

describe("generic HMAC events", () => {
  const base = { signatureHeader: "X-Signature", algorithm: "sha256", encoding: "hex" } as const;

  it("reads type and id from JSON paths", () => {
    const provider = genericHmacProvider({ ...base, typePath: "event.type", idPath: "event.id" });
    expect(provider.parse(request({})).events).toEqual([
      { type: "order.shipped", dedupKey: "9001", payload: JSON.parse(payload), payloadJson: payload },
    ]);
    expect(provider.deliveryIdFromHeaders(request({}))).toBeNull();
  });

  it("reads type and id from headers", () => {
    const provider = genericHmacProvider({ ...base, typeHeader: "X-Event-Type", idHeader: "X-Delivery-Id" });
    const req = request({ "x-event-type": "order.created", "x-delivery-id": "d_1" });
    expect(provider.parse(req).events[0]).toMatchObject({ type: "order.created", dedupKey: "d_1" });
    expect(provider.deliveryIdFromHeaders(req)).toBe("d_1");
  });

  it("falls back to defaultType, then webhook, and to the body hash", () => {
    const bodyHash = createHash("sha256").update(payload).digest("hex");
    const withDefault = genericHmacProvider({ ...base, typePath: "missing.path", defaultType: "acme.event" });
    expect(withDefault.parse(request({})).events[0]).toMatchObject({
      type: "acme.event",
      dedupKey: `sha256:${bodyHash}`,
    });
    expect(genericHmacProvider(base).parse(request({})).events[0]?.type).toBe("webhook");
  });

  it("reads a form-encoded body as fields", () => {
    const provider = genericHmacProvider({ ...base, typePath: "kind" });
    const req = { ...request({}, "kind=ping&id=1"), headers: { "content-type": "application/x-www-form-urlencoded" } };
    expect(provider.parse(req).events[0]).toMatchObject({ type: "ping", payload: { kind: "ping", id: "1" } });
  });

  it("treats a body that is neither JSON nor a form as unparseable", () => {
    expect(() => genericHmacProvider(base).parse(request({}, "<xml/>"))).toThrow(UnparseableBodyError);
  });
});

describe("generic HMAC configuration", () => {
  const valid: GenericHmacConfig = { signatureHeader: "X-Signature", algorithm: "sha256", encoding: "hex" };
  const rejects = (config: unknown, message: string | RegExp) => {
    expect(() => genericHmacProvider(config as GenericHmacConfig)).toThrow(ConfigurationError);
    expect(() => genericHmacProvider(config as GenericHmacConfig)).toThrow(message);
  };

  it("names the provider generic-hmac unless told otherwise", () => {
    expect(genericHmacProvider(valid).name).toBe("generic-hmac");
    expect(genericHmacProvider({ ...valid, name: "acme" }).name).toBe("acme");
  });

  it("rejects an unknown algorithm or encoding, naming the allowed values", () => {
    rejects({ ...valid, algorithm: "md5" }, 'algorithm must be one of sha1, sha256, sha512, got "md5"');
    rejects({ ...valid, encoding: "base32" }, 'encoding must be one of hex, base64, got "base32"');
  });

  it("rejects a missing or invalid header name", () => {
    rejects({ algorithm: "sha256", encoding: "hex" }, "signatureHeader must be an HTTP header name, got undefined");
    rejects({ ...valid, signatureHeader: "X Signature" }, /signatureHeader must be an HTTP header name/);
    rejects({ ...valid, typeHeader: "" }, /typeHeader must be an HTTP header name/);
  });

  it("rejects timestamp options without a timestamp header, and a bad unit", () => {
    rejects({ ...valid, timestampUnit: "ms" }, "timestampUnit needs timestampHeader");
    rejects({ ...valid, timestampSeparator: ":" }, "timestampSeparator needs timestampHeader");
    rejects({ ...valid, timestampHeader: "X-Timestamp", timestampUnit: "us" }, /timestampUnit must be "s" or "ms"/);
  });

  it("rejects two sources for the same field and malformed paths", () => {
    rejects({ ...valid, typeHeader: "X-Type", typePath: "type" }, "set typeHeader or typePath, not both");
    rejects({ ...valid, idHeader: "X-Id", idPath: "id" }, "set idHeader or idPath, not both");
    rejects({ ...valid, idPath: "data..id" }, /idPath must be a dot-separated path/);
  });

  it("reports every problem at once", () => {
    rejects({ ...valid, algorithm: "md5", encoding: "base32" }, /algorithm must be .*; encoding must be/);
  });
});
