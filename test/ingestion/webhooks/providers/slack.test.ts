import { createHash, createHmac } from "node:crypto";
import { isValidSlackRequest } from "@slack/bolt";
import { describe, expect, it } from "vitest";
import { slackProvider } from "../../../../src/ingestion/webhooks/providers/slack.ts";
import { UnparseableBodyError, type WebhookRequest } from "../../../../src/ingestion/webhooks/webhook-provider.ts";

// Oracle: @slack/bolt's verifier. Bolt has no signer, so requests are signed here per
// Slack's docs (https://api.slack.com/authentication/verifying-requests-from-slack)
// and every accepted signature is first confirmed by bolt: bolt is the judge both ways.
const secret = "8f742231b10e8888abcd99yyyzzz85a5";
const oldSecret = "0ld5ecret0ld5ecret0ld5ecret0ld5e";
const now = Date.UTC(2025, 5, 1, 12, 0, 0);
const nowSec = now / 1000;
const eventCallback = JSON.stringify({
  type: "event_callback",
  event_id: "Ev08MFMKH6",
  team_id: "T1",
  event: { type: "app_mention", text: "<@U1> hi", channel: "C1" },
});

function sign(body: string, timestamp: number, key = secret): string {
  return `v0=${createHmac("sha256", key).update(`v0:${timestamp}:${body}`).digest("hex")}`;
}

function request(
  body: string,
  options: {
    timestamp?: number;
    key?: string;
    contentType?: string;
    headers?: Record<string, string | undefined>;
  } = {},
): WebhookRequest {
  const timestamp = options.timestamp ?? nowSec;
  return {
    method: "POST",
    url: "https://hooks.example.com/hooks/slack",
    headers: {
      "content-type": options.contentType ?? "application/json",
      "x-slack-request-timestamp": String(timestamp),
      "x-slack-signature": sign(body, timestamp, options.key),
      ...options.headers,
    },
    rawBody: Buffer.from(body),
  };
}

function boltAccepts(req: WebhookRequest, key = secret): boolean {
  return isValidSlackRequest({
    signingSecret: key,
    body: req.rawBody.toString(),
    headers: {
      "x-slack-signature": req.headers["x-slack-signature"] ?? "",
      "x-slack-request-timestamp": Number(req.headers["x-slack-request-timestamp"]),
    },
    nowMilliseconds: now,
  });
}

function verify(req: WebhookRequest, secrets: string[] = [secret]) {
  return slackProvider.verify(req, { secrets, now });
}

describe("Slack signature verification", () => {
  it("accepts a request that bolt accepts", () => {
    const req = request(eventCallback);
    expect(boltAccepts(req)).toBe(true);
    expect(verify(req)).toEqual({ ok: true });
  });

  it("rejects a tampered body, as bolt does", () => {
    const req = { ...request(eventCallback), rawBody: Buffer.from(eventCallback.replace("hi", "bye")) };
    expect(boltAccepts(req)).toBe(false);
    expect(verify(req)).toEqual({
      ok: false,
      check: "signature",
      message: "X-Slack-Signature does not match the timestamp and body",
    });
  });

  it("rejects a tampered signature or timestamp, as bolt does", () => {
    const req = request(eventCallback);
    const badSignature = { ...req, headers: { ...req.headers, "x-slack-signature": `v0=${"0".repeat(64)}` } };
    expect(boltAccepts(badSignature)).toBe(false);
    expect(verify(badSignature)).toMatchObject({ check: "signature" });
    const shifted = { ...req, headers: { ...req.headers, "x-slack-request-timestamp": String(nowSec - 1) } };
    expect(boltAccepts(shifted)).toBe(false);
    expect(verify(shifted)).toMatchObject({ check: "signature" });
  });

  it("rejects a signature made with another secret, as bolt does", () => {
    const req = request(eventCallback, { key: "someone-else" });
    expect(boltAccepts(req)).toBe(false);
    expect(verify(req)).toMatchObject({ check: "signature" });
  });

  it("during a rotation accepts a signature made with either active secret", () => {
    const signedWithOld = request(eventCallback, { key: oldSecret });
    expect(boltAccepts(signedWithOld, oldSecret)).toBe(true);
    expect(verify(signedWithOld, [oldSecret, secret])).toEqual({ ok: true });
    expect(verify(request(eventCallback), [oldSecret, secret])).toEqual({ ok: true });
  });

  it("rejects missing headers", () => {
    expect(verify(request(eventCallback, { headers: { "x-slack-signature": undefined } }))).toEqual({
      ok: false,
      check: "missing-header",
      message: "X-Slack-Signature header is missing",
    });
    expect(verify(request(eventCallback, { headers: { "x-slack-request-timestamp": undefined } }))).toEqual({
      ok: false,
      check: "missing-header",
      message: "X-Slack-Request-Timestamp header is missing",
    });
  });

  it("rejects an unknown signature version and a timestamp that is not unix seconds", () => {
    const req = request(eventCallback);
    const v1 = {
      ...req,
      headers: { ...req.headers, "x-slack-signature": req.headers["x-slack-signature"]?.replace("v0=", "v1=") },
    };
    expect(boltAccepts(v1)).toBe(false);
    expect(verify(v1)).toMatchObject({ check: "malformed-header" });
    const isoTimestamp = { ...req, headers: { ...req.headers, "x-slack-request-timestamp": "2025-06-01T12:00:00Z" } };
    expect(verify(isoTimestamp)).toMatchObject({ check: "malformed-header" });
  });

  it("rejects a stale timestamp, as bolt does", () => {
    const req = request(eventCallback, { timestamp: nowSec - 301 });
    expect(boltAccepts(req)).toBe(false);
    expect(verify(req)).toEqual({
      ok: false,
      check: "timestamp",
      message: "X-Slack-Request-Timestamp is 301 s in the past; tolerance is ±300 s",
    });
  });

  it("rejects a timestamp too far in the future, which bolt lets through", () => {
    const req = request(eventCallback, { timestamp: nowSec + 301 });
    // Bolt only bounds the age; Slack's docs ask for the absolute difference.
    expect(boltAccepts(req)).toBe(true);
    expect(verify(req)).toMatchObject({ check: "timestamp", message: expect.stringContaining("in the future") });
  });
});

describe("Slack events", () => {
  it("answers url_verification with its challenge and stores no event", () => {
    const body = JSON.stringify({
      token: "t",
      challenge: "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
      type: "url_verification",
    });
    expect(slackProvider.parse(request(body))).toEqual({
      events: [],
      reply: { status: 200, contentType: "text/plain", body: "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" },
    });
  });

  it("types an event_callback by its inner event and dedupes on event_id", () => {
    expect(slackProvider.parse(request(eventCallback)).events).toEqual([
      { type: "app_mention", dedupKey: "Ev08MFMKH6", payload: JSON.parse(eventCallback), payloadJson: eventCallback },
    ]);
    expect(slackProvider.deliveryIdFromHeaders(request(eventCallback))).toBeNull();
  });

  it("types other JSON by its type and dedupes on the body hash", () => {
    const body = JSON.stringify({ type: "app_rate_limited", team_id: "T1", minute_rate_limited: 1518467820 });
    const bodyHash = createHash("sha256").update(body).digest("hex");
    expect(slackProvider.parse(request(body)).events).toEqual([
      { type: "app_rate_limited", dedupKey: `sha256:${bodyHash}`, payload: JSON.parse(body), payloadJson: body },
    ]);
  });

  it("reads form-encoded interactivity from its payload field", () => {
    const interaction = { type: "block_actions", trigger_id: "1.2.3", actions: [{ action_id: "approve" }] };
    const body = new URLSearchParams({ payload: JSON.stringify(interaction) }).toString();
    const req = request(body, { contentType: "application/x-www-form-urlencoded" });
    expect(boltAccepts(req)).toBe(true);
    expect(verify(req)).toEqual({ ok: true });
    const bodyHash = createHash("sha256").update(body).digest("hex");
    expect(slackProvider.parse(req).events).toEqual([
      {
        type: "block_actions",
        dedupKey: `sha256:${bodyHash}`,
        payload: interaction,
        payloadJson: JSON.stringify(interaction),
      },
    ]);
  });

  it("reads a slash command's form fields", () => {
    const body = "command=%2Fdeploy&text=api+production&user_id=U1&trigger_id=1.2.3";
    const [event] = slackProvider.parse(request(body, { contentType: "application/x-www-form-urlencoded" })).events;
    expect(event).toMatchObject({
      type: "slash_command",
      payload: { command: "/deploy", text: "api production", user_id: "U1", trigger_id: "1.2.3" },
    });
  });

  it("treats bodies Slack does not send as unparseable", () => {
    const form = { contentType: "application/x-www-form-urlencoded" };
    for (const req of [
      request("not json"),
      request(JSON.stringify({ type: "event_callback", event: { type: "message" } })),
      request(JSON.stringify({ type: "event_callback", event_id: "Ev1" })),
      request(JSON.stringify({ type: "url_verification" })),
      request(JSON.stringify({ no: "type" })),
      request("user_id=U1", form),
      request("payload=%7Bnot-json", form),
    ]) {
      expect(() => slackProvider.parse(req)).toThrow(UnparseableBodyError);
    }
  });
});
