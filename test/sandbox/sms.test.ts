import twilio from "twilio";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { twilioProvider } from "../../src/ingestion/webhooks/providers/twilio.ts";
import type { Sandbox } from "../../src/sandbox/create-sandbox.ts";
import { createSms, type SmsSystem } from "../../src/sandbox/systems/sms.ts";
import { startTestSandbox } from "../support/sandbox.ts";
import { WebhookReceiver } from "../support/webhook-receiver.ts";

// biome-ignore lint/suspicious/noExplicitAny: an answer's JSON, which the assertions check
type Json = any;
const read = (response: Response | Promise<Response>): Promise<Json> => Promise.resolve(response).then((r) => r.json());

let sandbox: Sandbox;
let sms: SmsSystem;
let receiver: WebhookReceiver;
let auth: string;

const messagesUrl = () => `${sandbox.baseUrl("sms")}/2010-04-01/Accounts/${sms.accountSid}/Messages.json`;

function create(params: Record<string, string>, authorization = auth) {
  return fetch(messagesUrl(), {
    method: "POST",
    headers: { authorization, "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(params).toString(),
  });
}

function get(url: string) {
  return fetch(url, { headers: { authorization: auth } });
}

beforeAll(async () => {
  receiver = new WebhookReceiver();
  await receiver.start();
  sandbox = await startTestSandbox({ sms: (context) => createSms(context, { statusDelayMs: 5 }) });
  sms = sandbox.system<SmsSystem>("sms");
  const { username, password } = sandbox.credentials("sms");
  auth = `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`;
});

afterAll(async () => {
  await sandbox.close();
  await receiver.close();
});

describe("sms sandbox (Twilio-like)", () => {
  it("queues a form-encoded message and answers 201 with Twilio's Message resource", async () => {
    const response = await create({ To: "+14155550101", From: "+15005550006", Body: "Your table is ready." });
    expect(response.status).toBe(201);
    const message = await read(response);
    expect(message).toMatchObject({
      sid: expect.stringMatching(/^SM[0-9a-f]{32}$/),
      account_sid: sms.accountSid,
      to: "+14155550101",
      from: "+15005550006",
      body: "Your table is ready.",
      status: "queued",
      num_segments: "1",
      direction: "outbound-api",
      api_version: "2010-04-01",
      date_sent: null,
      price: null,
      error_code: null,
      error_message: null,
      uri: `/2010-04-01/Accounts/${sms.accountSid}/Messages/${message.sid}.json`,
    });
    expect(message.date_created).toMatch(/^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} \+0000$/);
    expect(sms.accountSid).toMatch(/^AC[0-9a-f]{32}$/);
  });

  it("refuses wrong credentials with 401 and error 20003", async () => {
    const response = await create({ To: "+14155550101", From: "+15005550006", Body: "hi" }, "Basic bm9wZTpub3Bl");
    expect(response.status).toBe(401);
    expect(await read(response)).toEqual({
      code: 20003,
      message: "Authenticate",
      more_info: "https://www.twilio.com/docs/errors/20003",
      status: 401,
    });
    sandbox.setFaults("sms", { revokeCredentials: true });
    expect((await create({ To: "+14155550101", From: "+15005550006", Body: "hi" })).status).toBe(401);
    sandbox.setFaults("sms", { restoreCredentials: true });
  });

  it("validates parameters with Twilio's error codes", async () => {
    const badTo = await create({ To: "12", From: "+15005550006", Body: "hi" });
    expect(badTo.status).toBe(400);
    expect(await read(badTo)).toMatchObject({ code: 21211, status: 400, more_info: expect.stringContaining("21211") });
    expect(await read(create({ To: "+14155550101", From: "+15005550006" }))).toMatchObject({ code: 21602 });
    expect(await read(create({ From: "+15005550006", Body: "hi" }))).toMatchObject({ code: 21604 });
  });

  it("reads form parameters only: a JSON body has no To", async () => {
    const response = await fetch(messagesUrl(), {
      method: "POST",
      headers: { authorization: auth, "content-type": "application/json" },
      body: JSON.stringify({ To: "+14155550101", From: "+15005550006", Body: "hi" }),
    });
    expect(await read(response)).toMatchObject({ code: 21604 });
  });

  it("posts signed status callbacks, sent then delivered, that Tenon's verifier and twilio's validateRequest accept", async () => {
    const statusCallback = `${receiver.origin}/hooks/sms?tenant=acme`;
    receiver.failures = 1;
    const { sid } = await read(
      create({ To: "+14155550102", From: "+15005550006", Body: "See you soon.", StatusCallback: statusCallback }),
    );
    await sms.drainCallbacks();

    const statuses = receiver.received.map((request) => new URLSearchParams(request.body).get("MessageStatus"));
    expect(statuses).toEqual(["sent", "sent", "delivered"]);
    for (const request of receiver.received) {
      const params = Object.fromEntries(new URLSearchParams(request.body));
      expect(params).toMatchObject({
        MessageSid: sid,
        SmsSid: sid,
        AccountSid: sms.accountSid,
        ApiVersion: "2010-04-01",
      });
      expect(request.headers["content-type"]).toBe("application/x-www-form-urlencoded");
      const signature = request.headers["x-twilio-signature"] as string;
      const authToken = sandbox.credentials("sms").password as string;
      expect(twilio.validateRequest(authToken, signature, statusCallback, params)).toBe(true);
      const verified = twilioProvider.verify(
        {
          method: "POST",
          url: request.url,
          headers: request.headers as Record<string, string>,
          rawBody: Buffer.from(request.body),
        },
        { secrets: [authToken], now: Date.now() },
      );
      expect(verified).toEqual({ ok: true });
    }
    // The retry of the failed callback carried the same idempotency token.
    const [first, retry] = receiver.received;
    expect(retry?.headers["i-twilio-idempotency-token"]).toBe(first?.headers["i-twilio-idempotency-token"]);

    const message = sms.messages().find((candidate) => candidate.sid === sid);
    expect(message?.history.map((change) => change.status)).toEqual(["queued", "sent", "delivered"]);
    expect(message?.callbacks.map((callback) => [callback.messageStatus, callback.state, callback.attempts])).toEqual([
      ["sent", "delivered", 2],
      ["delivered", "delivered", 1],
    ]);
    const fetched = await read(get(`${messagesUrl().replace(".json", "")}/${sid}.json`));
    expect(fetched).toMatchObject({ sid, status: "delivered", date_sent: expect.stringMatching(/\+0000$/) });
  });

  it("lists messages by To and by the day they were sent, newest first", async () => {
    await create({ To: "+14155550103", From: "+15005550006", Body: "first" });
    await create({ To: "+14155550103", From: "+15005550006", Body: "second" });
    await sms.drainCallbacks();
    const today = new Date().toISOString().slice(0, 10);

    const page = await read(get(`${messagesUrl()}?To=%2B14155550103&DateSent=${today}&PageSize=1`));
    expect(page.messages.map((message: { body: string }) => message.body)).toEqual(["second"]);
    expect(page).toMatchObject({ page: 0, page_size: 1, next_page_uri: expect.stringContaining("Page=1") });

    const after = await read(get(`${messagesUrl()}?To=%2B14155550103&DateSent%3E=${today}`));
    expect(after.messages).toHaveLength(2);
    const before = await read(get(`${messagesUrl()}?To=%2B14155550103&DateSent%3C=2000-01-01`));
    expect(before.messages).toHaveLength(0);
  });

  it("answers 404 with error 20404 for an unknown message", async () => {
    const response = await get(`${messagesUrl().replace(".json", "")}/SM${"0".repeat(32)}.json`);
    expect(response.status).toBe(404);
    expect(await read(response)).toMatchObject({ code: 20404, status: 404 });
  });

  it("shows messages with their status history in its state, and basic-auth credentials", async () => {
    await sms.drainCallbacks();
    const state = await read(fetch(`${sandbox.url}/_sandbox/sms/state`));
    expect(state.sent).toBe(sms.messages().length);
    expect(state.messages[0]).toMatchObject({
      sid: expect.any(String),
      history: expect.any(Array),
      callbacks: expect.any(Array),
    });
    expect(sandbox.credentials("sms")).toEqual({
      username: sms.accountSid,
      password: expect.stringMatching(/^[0-9a-f]{32}$/),
    });
  });
});
