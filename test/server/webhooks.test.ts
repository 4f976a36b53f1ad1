import { createHmac } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Engine } from "../../src/engine/engine.ts";
import { defineIntegration } from "../../src/sdk/define-integration.ts";
import { backends, useTestStorage } from "../support/backends.ts";
import { testEngine, waitForRunStatus } from "../support/engine.ts";
import { allProviderSources, type RunningServer, startTestServer } from "../support/server.ts";
import {
  githubRequest,
  hubspotRequest,
  type SignedRequest,
  secrets,
  shopifyRequest,
  slackRequest,
  standardWebhooksRequest,
  stripeRequest,
  twilioRequest,
} from "../support/signed-webhooks.ts";

/** One integration per provider's event, so every accepted event starts exactly one run. */
const integrations = [
  ["stripe", "payment_intent.succeeded"],
  ["shopify", "orders/create"],
  ["github", "issues.opened"],
  ["slack", "app_mention"],
  ["twilio", "message.delivered"],
  ["hubspot", "contact.creation"],
  ["standard-webhooks", "appointment.completed"],
].map(([source, event]) =>
  defineIntegration({
    id: `on-${source}`,
    trigger: { event: event as string, source: source as string },
    run: () => {},
  }),
);

describe.each(backends)("webhooks on $name", (backend) => {
  const t = useTestStorage(backend);
  let engine: Engine;
  let http: RunningServer;

  beforeEach(async () => {
    engine = testEngine({ storage: t.storage, integrations, worker: false });
    await engine.start();
    http = await startTestServer(engine);
  });
  afterEach(async () => {
    await http.server.close();
    await engine.stop();
  });

  async function runsOf(eventId: string) {
    return t.storage.listRuns({ eventId });
  }

  /** First delivery and a redelivery of the same provider event, as each provider sends them. */
  const deliveries: [
    string,
    (url: string) => Promise<[SignedRequest, SignedRequest]> | [SignedRequest, SignedRequest],
  ][] = [
    ["stripe (event id)", () => [stripeRequest("evt_1"), stripeRequest("evt_1")]],
    // Shopify: a retry carries the same X-Shopify-Event-Id (its webhook id may differ).
    ["shopify (X-Shopify-Event-Id)", () => [shopifyRequest("e-1"), shopifyRequest("e-1")]],
    ["github (X-GitHub-Delivery)", async () => [await githubRequest("d-1"), await githubRequest("d-1")]],
    ["slack (event_id)", () => [slackRequest("Ev1"), slackRequest("Ev1")]],
    [
      "twilio (I-Twilio-Idempotency-Token)",
      (url) => [
        twilioRequest(`${url}/hooks/twilio`, "tok-1", "SM1"),
        twilioRequest(`${url}/hooks/twilio`, "tok-1", "SM1"),
      ],
    ],
    ["standard webhooks (webhook-id)", () => [standardWebhooksRequest("msg_1"), standardWebhooksRequest("msg_1")]],
  ];

  it.each(deliveries)("a redelivered %s event is recognised: same event id, no second run", async (name, make) => {
    const source = name.startsWith("standard") ? "standard-webhooks" : (name.split(" ")[0] as string);
    const [first, again] = await make(http.url);
    const one = await http.post(`/hooks/${source}`, first);
    expect(one.status, one.text).toBe(200);
    expect(one.json).toEqual({ id: expect.any(String), duplicate: false });
    // Durable before the answer: the event and its run are already in storage.
    expect((await t.storage.getEvent(one.json.id))?.status).toBe("accepted");
    expect(await runsOf(one.json.id)).toHaveLength(1);

    const two = await http.post(`/hooks/${source}`, again);
    expect(two.status, two.text).toBe(200);
    expect(two.json).toEqual({ id: one.json.id, duplicate: true });
    expect(await runsOf(one.json.id)).toHaveLength(1);
    expect(await t.storage.listEvents({ source })).toHaveLength(1);
  });

  it("a HubSpot batch becomes one event per eventId; a redelivered batch overlapping it adds only the new ones", async () => {
    const url = `${http.url}/hooks/hubspot`;
    const first = await http.post("/hooks/hubspot", hubspotRequest(url, [101, 102]));
    expect(first.status, first.text).toBe(200);
    expect(first.json.events).toHaveLength(2);
    const second = await http.post("/hooks/hubspot", hubspotRequest(url, [102, 103]));
    expect(second.json.events.map((e: { duplicate: boolean }) => e.duplicate)).toEqual([true, false]);
    expect(second.json.events[0].id).toBe(first.json.events[1].id);
    const events = await t.storage.listEvents({ source: "hubspot" });
    expect(events.map((e) => e.dedupKey).sort()).toEqual(["101", "102", "103"]);
    for (const event of events) expect(await runsOf(event.id)).toHaveLength(1);
  });

  it("rejects unknown sources (404), missing and bad signatures (401, naming the check), stale timestamps (401); stores none of them", async () => {
    const unknown = await http.post("/hooks/nope", stripeRequest("evt_x"));
    expect(unknown.status).toBe(404);
    expect(unknown.json.error).toBe("unknown_source");
    // The internet asking is not told which sources exist.
    for (const source of Object.keys(allProviderSources)) expect(unknown.text).not.toContain(source);

    const { "stripe-signature": _, ...unsigned } = stripeRequest("evt_2").headers;
    const missing = await http.post("/hooks/stripe", { ...stripeRequest("evt_2"), headers: unsigned });
    expect(missing.status).toBe(401);
    expect(missing.json.error).toBe("signature_missing");

    const tampered = stripeRequest("evt_3");
    const bad = await http.post("/hooks/stripe", { ...tampered, body: tampered.body.replace("evt_3", "evt_4") });
    expect(bad.status).toBe(401);
    expect(bad.json.error).toBe("signature_invalid");
    expect(bad.text).not.toContain(secrets.stripe);

    const staleSlack = slackRequest("Ev-old", Math.floor(Date.now() / 1000) - 3600);
    const stale = await http.post("/hooks/slack", staleSlack);
    expect(stale.status).toBe(401);
    expect(stale.json.error).toBe("timestamp_out_of_tolerance");

    expect(await t.storage.listEvents()).toHaveLength(0);
    expect(await engine.metrics.webhookRejections()).toEqual({
      stripe: { "missing-header": 1, signature: 1 },
      slack: { timestamp: 1 },
    });
  });

  it("answers 413 over the body limit and 415 for content types providers do not send", async () => {
    const small = await startTestServer(engine, { bodyLimit: 2048 });
    try {
      const big = stripeRequest("evt_big", "payment_intent.succeeded", { padding: "x".repeat(4096) });
      expect((await small.post("/hooks/stripe", big)).status).toBe(413);
      const xml = stripeRequest("evt_xml");
      const wrongType = await small.post("/hooks/stripe", {
        ...xml,
        headers: { ...xml.headers, "content-type": "application/xml" },
      });
      expect(wrongType.status).toBe(415);
      expect(wrongType.json.error).toBe("unsupported_content_type");
      expect(await t.storage.listEvents()).toHaveLength(0);
    } finally {
      await small.server.close();
    }
  });

  it("a verified body that cannot be parsed is quarantined with the reason (202), once per delivery", async () => {
    const garbage = "{this is not json";
    const request = {
      headers: { "content-type": "application/json", "stripe-signature": signStripe(garbage) },
      body: garbage,
    };
    const answer = await http.post("/hooks/stripe", request);
    expect(answer.status, answer.text).toBe(202);
    expect(answer.json).toMatchObject({ quarantined: true, duplicate: false, reason: expect.stringContaining("JSON") });
    const stored = await t.storage.getEvent(answer.json.id);
    expect(stored?.status).toBe("quarantined");
    expect(stored?.error).toContain("JSON");
    expect(JSON.parse(stored?.payloadJson ?? "null")).toMatchObject({ encoding: "utf8", body: garbage });
    expect(await runsOf(answer.json.id)).toHaveLength(0);

    const again = await http.post("/hooks/stripe", request);
    expect(again.json).toMatchObject({ id: answer.json.id, duplicate: true });
  });

  it("a verified JSON body is stored as it came, digits and spacing kept; one whose number overflows to Infinity is quarantined", async () => {
    // Parsed and serialised again, the amount would lose digits and the spacing would go.
    const body =
      '{ "id": "evt_exact", "type": "payment_intent.succeeded",\n  "data": {"object": {"amount": 12345678901234567890, "note": "caf\\u00e9"}} }';
    const answer = await http.post("/hooks/stripe", {
      headers: { "content-type": "application/json", "stripe-signature": signStripe(body) },
      body,
    });
    expect(answer.status, answer.text).toBe(200);
    const stored = await t.storage.getEvent(answer.json.id);
    expect(stored?.status).toBe("accepted");
    expect(stored?.payloadJson).toBe(body);

    const overflowing = '{"id":"evt_huge","type":"payment_intent.succeeded","data":{"object":{"amount":1e400}}}';
    const refused = await http.post("/hooks/stripe", {
      headers: { "content-type": "application/json", "stripe-signature": signStripe(overflowing) },
      body: overflowing,
    });
    expect(refused.status, refused.text).toBe(202);
    expect(refused.json).toMatchObject({ quarantined: true, reason: expect.stringContaining('"amount" is Infinity') });
    expect(await runsOf(refused.json.id)).toHaveLength(0);
  });

  it("answers Slack's url_verification challenge without storing anything", async () => {
    const body = JSON.stringify({
      type: "url_verification",
      challenge: "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
    });
    const ts = Math.floor(Date.now() / 1000);
    const signature = `v0=${createHmac("sha256", secrets.slack).update(`v0:${ts}:${body}`).digest("hex")}`;
    const answer = await http.post("/hooks/slack", {
      headers: {
        "content-type": "application/json",
        "x-slack-signature": signature,
        "x-slack-request-timestamp": String(ts),
      },
      body,
    });
    expect(answer.status).toBe(200);
    expect(answer.text).toBe("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P");
    expect(await t.storage.listEvents()).toHaveLength(0);
  });

  it("behind a proxy, signed-URL schemes (Twilio) verify against the configured public URL", async () => {
    const proxied = await startTestServer(engine, { publicUrl: "https://hooks.example.com" });
    try {
      const request = twilioRequest("https://hooks.example.com/hooks/twilio", "tok-proxy", "SM9");
      expect((await proxied.post("/hooks/twilio", request)).status).toBe(200);
      // The same request against a server that does not know its public URL cannot verify.
      expect((await http.post("/hooks/twilio", request)).status).toBe(401);
    } finally {
      await proxied.server.close();
    }
  });
});

describe.each(backends)("webhook fan-out and processing on $name", (backend) => {
  const t = useTestStorage(backend);

  it("an event starts every integration that listens to its source and type, after the answer", async () => {
    const handled: string[] = [];
    const listen = (id: string, trigger: { event: string; source?: string }) =>
      defineIntegration({ id, trigger, run: ({ event }) => void handled.push(`${id}:${event.id}`) });
    const engine = testEngine({
      storage: t.storage,
      integrations: [
        listen("invoice", { event: "payment_intent.succeeded", source: "stripe" }),
        listen("notify", { event: "payment_intent.succeeded" }),
        listen("other-source", { event: "payment_intent.succeeded", source: "shopify" }),
        listen("other-type", { event: "charge.refunded", source: "stripe" }),
      ],
    });
    await engine.start();
    const http = await startTestServer(engine, {
      sources: { stripe: { provider: "stripe", secrets: ["whsec_new", secrets.stripe] } },
    });
    try {
      const answer = await http.post("/hooks/stripe", stripeRequest("evt_fan"));
      expect(answer.status).toBe(200);
      const runs = await t.storage.listRuns({ eventId: answer.json.id });
      expect(runs.map((r) => r.integrationId).sort()).toEqual(["invoice", "notify"]);
      for (const run of runs) await waitForRunStatus(t.storage, run.id, "succeeded");
      expect(handled.sort()).toEqual([`invoice:${answer.json.id}`, `notify:${answer.json.id}`]);
    } finally {
      await http.server.close();
      await engine.stop();
    }
  });
});

/** Stripe's scheme over any bytes, for bodies its SDK would not produce. */
function signStripe(payload: string): string {
  const t = Math.floor(Date.now() / 1000);
  return `t=${t},v1=${createHmac("sha256", secrets.stripe).update(`${t}.${payload}`).digest("hex")}`;
}
