import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ResponseShapeError } from "../../src/connectors/define-connector.ts";
import { statusCallbackSchema, twilio } from "../../src/connectors/twilio/index.ts";
import { builtInProviders } from "../../src/ingestion/webhooks/providers/index.ts";
import { createSandbox, type Sandbox } from "../../src/sandbox/create-sandbox.ts";
import { createSms, type SmsSystem } from "../../src/sandbox/systems/sms.ts";
import { ConfigurationError, NonRetryableError, RetryableError } from "../../src/sdk/errors.ts";
import { connectToSandbox, type SandboxConnections } from "../support/sandbox.ts";
import { WebhookReceiver } from "../support/webhook-receiver.ts";

/** The sandbox's fault dice, rolled in order (then "no fault"): decides which request an injected 5xx hits. */
const rolls: number[] = [];

let sandbox: Sandbox;
let sms: SmsSystem;
let receiver: WebhookReceiver;
let connections: SandboxConnections;
let texts: ReturnType<typeof twilio.client>;

beforeAll(async () => {
  receiver = new WebhookReceiver();
  await receiver.start();
  sandbox = createSandbox({
    systems: { sms: (context) => createSms(context, { statusDelayMs: 5 }) },
    random: () => rolls.shift() ?? 0.99,
  });
  await sandbox.listen();
  sms = sandbox.system<SmsSystem>("sms");
  connections = await connectToSandbox({
    sms: twilio.connection({
      baseUrl: sandbox.baseUrl("sms"),
      accountSid: sms.accountSid,
      credentials: sandbox.credentials("sms"),
    }),
  });
  texts = twilio.client(connections.client("sms"));
});

beforeEach(() => {
  sandbox.setFaults("sms", { errorRate: null, errorTiming: null, schemaChange: null });
});

afterAll(async () => {
  await sms.drainCallbacks();
  await connections.close();
  await sandbox.close();
  await receiver.close();
});

describe("twilio connector", () => {
  it("sends Twilio's documented requests: account path, basic auth, form-encoded parameters", async () => {
    const before = sandbox.requests("sms").length;
    const statusCallback = `${receiver.origin}/hooks/sms`;
    const sent = await connections.inStep(() =>
      texts.sendSms({ to: "+14155550101", from: "+15005550006", body: "Your table is ready.", statusCallback }),
    );
    expect(sent).toEqual({ sid: expect.stringMatching(/^SM[0-9a-f]{32}$/), status: "queued", alreadySent: false });

    const { username, password } = sandbox.credentials("sms");
    const basic = `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`;
    const [lookup, create] = sandbox.requests("sms").slice(before);
    expect(lookup).toMatchObject({
      method: "GET",
      path: `/2010-04-01/Accounts/${sms.accountSid}/Messages.json`,
      query: { To: "+14155550101", From: "+15005550006", PageSize: "50" },
      headers: { authorization: basic },
    });
    expect(create).toMatchObject({
      method: "POST",
      path: `/2010-04-01/Accounts/${sms.accountSid}/Messages.json`,
      headers: { authorization: basic, "content-type": "application/x-www-form-urlencoded" },
    });
    expect(create?.headers["idempotency-key"]).toBeUndefined();
    expect(Object.fromEntries(new URLSearchParams(create?.body))).toEqual({
      To: "+14155550101",
      From: "+15005550006",
      Body: "Your table is ready.",
      StatusCallback: statusCallback,
    });
  });

  it("a step retried after its SMS was sent but the answer lost sends exactly one SMS", async () => {
    const before = sms.messages().length;
    const input = {
      to: "+14155550102",
      from: "+15005550006",
      body: "Thanks for visiting! Invoice A-1001 is on its way.",
    };
    sandbox.setFaults("sms", { errorRate: 0.5, errorTiming: "after" });
    rolls.push(0.9, 0.1, 0); // the lookup passes; the send is processed, then answered 500
    const key = "run-1:send-follow-up";

    await expect(connections.inStep(() => texts.sendSms(input), { key })).rejects.toBeInstanceOf(RetryableError);
    expect(sms.messages().length).toBe(before + 1);

    sandbox.setFaults("sms", { errorRate: null });
    const retried = await connections.inStep(() => texts.sendSms(input), { key, attempt: 2 });
    expect(retried).toMatchObject({ sid: sms.messages().at(-1)?.sid, alreadySent: true });
    expect(sms.messages().length).toBe(before + 1);
  });

  it("another text to the same number is sent; a reference must appear in the body", async () => {
    const before = sms.messages().length;
    const base = { to: "+14155550103", from: "+15005550006" };
    await connections.inStep(() => texts.sendSms({ ...base, body: "Invoice A-2001 is ready.", reference: "A-2001" }));
    const other = await connections.inStep(() =>
      texts.sendSms({ ...base, body: "Invoice A-2002 is ready.", reference: "A-2002" }),
    );
    expect(other.alreadySent).toBe(false);
    expect(sms.messages().length).toBe(before + 2);

    await expect(texts.sendSms({ ...base, body: "Invoice ready.", reference: "A-2003" })).rejects.toBeInstanceOf(
      NonRetryableError,
    );
    expect(sms.messages().length).toBe(before + 2);
  });

  it("getMessage reads the Message resource", async () => {
    const { sid } = await connections.inStep(() =>
      texts.sendSms({ to: "+14155550104", from: "+15005550006", body: "See you soon." }),
    );
    const before = sandbox.requests("sms").length;
    const message = await texts.getMessage({ sid });
    expect(message).toMatchObject({ sid, to: "+14155550104", body: "See you soon.", direction: "outbound-api" });
    expect(sandbox.requests("sms").slice(before)[0]).toMatchObject({
      method: "GET",
      path: `/2010-04-01/Accounts/${sms.accountSid}/Messages/${sid}.json`,
    });
  });

  it("an answer whose shape changed fails with ResponseShapeError naming the field", async () => {
    const { sid } = await connections.inStep(() =>
      texts.sendSms({ to: "+14155550105", from: "+15005550006", body: "Reminder: tomorrow 9:00." }),
    );
    sandbox.setFaults("sms", { schemaChange: { field: "status", action: "rename", to: "state" } });
    const read = texts.getMessage({ sid });
    await expect(read).rejects.toBeInstanceOf(ResponseShapeError);
    await expect(read).rejects.toThrow(/status/);

    // The lookup is checked too: a changed list must not read as "not sent yet" and send again.
    sandbox.setFaults("sms", { schemaChange: { field: "messages", action: "drop" } });
    const before = sms.messages().length;
    const send = connections.inStep(() =>
      texts.sendSms({ to: "+14155550105", from: "+15005550006", body: "Reminder: tomorrow 9:00." }),
    );
    await expect(send).rejects.toThrow(/GET \/Messages\.json.*messages/);
    expect(sms.messages().length).toBe(before);
  });

  it("its status callbacks verify with the connector's webhook provider and dedupe per message and status", async () => {
    const statusCallback = `${receiver.origin}/hooks/sms`;
    const { sid } = await connections.inStep(() =>
      texts.sendSms({ to: "+14155550106", from: "+15005550006", body: "Your car is ready.", statusCallback }),
    );
    await sms.drainCallbacks();
    const provider = builtInProviders[twilio.webhooks?.provider ?? ""];
    const callbacks = receiver.received.filter(
      (request) => new URLSearchParams(request.body).get("MessageSid") === sid,
    );
    expect(callbacks).toHaveLength(2);
    const events = callbacks.map((callback) => {
      const request = {
        method: "POST",
        url: callback.url,
        headers: callback.headers,
        rawBody: Buffer.from(callback.body),
      };
      expect(
        provider?.verify(request, { secrets: [sandbox.credentials("sms").password ?? ""], now: Date.now() }),
      ).toEqual({
        ok: true,
      });
      return provider?.parse(request).events[0];
    });
    expect(events.map((event) => [event?.type, event?.dedupKey])).toEqual([
      ["message.sent", `${sid}-sent`],
      ["message.delivered", `${sid}-delivered`],
    ]);
    expect(statusCallbackSchema.parse(events[1]?.payload)).toMatchObject({
      MessageSid: sid,
      MessageStatus: "delivered",
    });
  });

  it("refuses an account SID that is not AC + 32 hex digits", () => {
    expect(() => twilio.connection({ baseUrl: sandbox.baseUrl("sms"), accountSid: "ACnope" })).toThrow(
      ConfigurationError,
    );
    // With the environment variables swapped, the "SID" is the auth token: the error must not echo it.
    const authToken = sandbox.credentials("sms").password as string;
    let message = "";
    try {
      twilio.connection({ accountSid: authToken });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain(`has ${authToken.length} characters and starts with "${authToken.slice(0, 2)}"`);
    expect(message).not.toContain(authToken);
    expect(twilio.connection({ accountSid: sms.accountSid })).toMatchObject({
      baseUrl: `https://api.twilio.com/2010-04-01/Accounts/${sms.accountSid}`,
      auth: { type: "basic" },
      idempotencyHeader: false,
    });
  });
});
