import { createHash } from "node:crypto";
import { verify as octokitVerify, sign } from "@octokit/webhooks-methods";
import { describe, expect, it } from "vitest";
import { githubProvider } from "../../../../src/ingestion/webhooks/providers/github.ts";
import { UnparseableBodyError, type WebhookRequest } from "../../../../src/ingestion/webhooks/webhook-provider.ts";

// Oracle: @octokit/webhooks-methods, GitHub's own `sign` and `verify`.
const secret = "gh-secret-current";
const oldSecret = "gh-secret-previous";
const now = Date.UTC(2025, 5, 1, 12, 0, 0);
const delivery = "72d3162e-cc78-11e3-81ab-4c9367dc0958";
const payload = JSON.stringify({ action: "opened", number: 7, pull_request: { id: 1 }, repository: { id: 2 } });

async function request(body: string, headers: Record<string, string | undefined> = {}): Promise<WebhookRequest> {
  return {
    method: "POST",
    url: "https://hooks.example.com/hooks/github",
    headers: {
      "content-type": "application/json",
      "x-github-event": "pull_request",
      "x-github-delivery": delivery,
      "x-hub-signature-256": await sign(secret, body),
      ...headers,
    },
    rawBody: Buffer.from(body),
  };
}

function verify(req: WebhookRequest, secrets: string[] = [secret]) {
  return githubProvider.verify(req, { secrets, now });
}

describe("GitHub signature verification", () => {
  it("accepts a body signed by @octokit/webhooks-methods, as its verify does", async () => {
    const signature = await sign(secret, payload);
    expect(await octokitVerify(secret, payload, signature)).toBe(true);
    expect(verify(await request(payload))).toEqual({ ok: true });
  });

  it("rejects a tampered body, as octokit does", async () => {
    const req = await request(payload);
    const tampered = payload.replace("opened", "closed");
    req.rawBody = Buffer.from(tampered);
    expect(await octokitVerify(secret, tampered, req.headers["x-hub-signature-256"] ?? "")).toBe(false);
    expect(verify(req)).toEqual({
      ok: false,
      check: "signature",
      message: "X-Hub-Signature-256 does not match the body",
    });
  });

  it("rejects a tampered signature", async () => {
    const signature = await sign(secret, payload);
    const tampered = signature.replace(/.$/, (last) => (last === "0" ? "1" : "0"));
    expect(await octokitVerify(secret, payload, tampered)).toBe(false);
    expect(verify(await request(payload, { "x-hub-signature-256": tampered }))).toMatchObject({ check: "signature" });
  });

  it("rejects a signature made with another secret", async () => {
    const signature = await sign("someone-else", payload);
    expect(await octokitVerify(secret, payload, signature)).toBe(false);
    expect(verify(await request(payload, { "x-hub-signature-256": signature }))).toMatchObject({ check: "signature" });
  });

  it("during a rotation accepts a signature made with either active secret", async () => {
    expect(verify(await request(payload), [oldSecret, secret])).toEqual({ ok: true });
    const signedWithOld = await request(payload, { "x-hub-signature-256": await sign(oldSecret, payload) });
    expect(verify(signedWithOld, [oldSecret, secret])).toEqual({ ok: true });
  });

  it("rejects a missing header and the legacy SHA-1 header alone", async () => {
    expect(verify(await request(payload, { "x-hub-signature-256": undefined }))).toEqual({
      ok: false,
      check: "missing-header",
      message: "X-Hub-Signature-256 header is missing",
    });
    const legacyOnly = await request(payload, { "x-hub-signature-256": undefined, "x-hub-signature": "sha1=abc" });
    expect(verify(legacyOnly)).toMatchObject({ check: "missing-header" });
  });

  it("rejects a signature without the sha256= prefix", async () => {
    const bare = (await sign(secret, payload)).slice("sha256=".length);
    expect(verify(await request(payload, { "x-hub-signature-256": bare }))).toMatchObject({
      check: "malformed-header",
    });
  });

  it("verifies a form-encoded delivery over its raw body", async () => {
    const body = new URLSearchParams({ payload }).toString();
    const req = await request(body, { "content-type": "application/x-www-form-urlencoded" });
    expect(await octokitVerify(secret, body, req.headers["x-hub-signature-256"] ?? "")).toBe(true);
    expect(verify(req)).toEqual({ ok: true });
  });
});

describe("GitHub events", () => {
  it("types an event with an action as <event>.<action> and dedupes on the delivery id", async () => {
    const req = await request(payload);
    expect(githubProvider.parse(req).events).toEqual([
      { type: "pull_request.opened", dedupKey: delivery, payload: JSON.parse(payload), payloadJson: payload },
    ]);
    expect(githubProvider.deliveryIdFromHeaders(req)).toBe(delivery);
  });

  it("types an event without an action by the event header alone", async () => {
    const body = JSON.stringify({ zen: "Keep it logically awesome.", hook_id: 1 });
    expect(githubProvider.parse(await request(body, { "x-github-event": "ping" })).events[0]?.type).toBe("ping");
  });

  it("reads a form-encoded delivery's payload field", async () => {
    const body = new URLSearchParams({ payload }).toString();
    const req = await request(body, { "content-type": "application/x-www-form-urlencoded" });
    expect(githubProvider.parse(req).events).toEqual([
      { type: "pull_request.opened", dedupKey: delivery, payload: JSON.parse(payload), payloadJson: payload },
    ]);
  });

  it("dedupes on the body hash when there is no delivery id", async () => {
    const req = await request(payload, { "x-github-delivery": undefined });
    const bodyHash = createHash("sha256").update(payload).digest("hex");
    expect(githubProvider.parse(req).events[0]?.dedupKey).toBe(`sha256:${bodyHash}`);
    expect(githubProvider.deliveryIdFromHeaders(req)).toBeNull();
  });

  it("treats a body that is not a JSON object, or a form without payload, as unparseable", async () => {
    const req0 = await request("{}");
    expect(() => githubProvider.parse({ ...req0, rawBody: Buffer.from("not json") })).toThrow(UnparseableBodyError);
    expect(() => githubProvider.parse({ ...req0, rawBody: Buffer.from("[1,2]") })).toThrow(UnparseableBodyError);
    const form = { ...req0, headers: { ...req0.headers, "content-type": "application/x-www-form-urlencoded" } };
    expect(() => githubProvider.parse({ ...form, rawBody: Buffer.from("other=1") })).toThrow(UnparseableBodyError);
    expect(() => githubProvider.parse({ ...form, rawBody: Buffer.from("payload=%7Bbroken") })).toThrow(
      UnparseableBodyError,
    );
  });
});
