import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Sandbox } from "../../src/sandbox/create-sandbox.ts";
import { type ChatSystem, createChat } from "../../src/sandbox/systems/chat.ts";
import { startTestSandbox } from "../support/sandbox.ts";

let sandbox: Sandbox;
let chat: ChatSystem;

/** A firing alert as Slack's Block Kit Builder would lay it out: header, fields, context, a button to the run. */
const alertMessage = {
  text: "FIRING: run dead in order-to-invoice",
  blocks: [
    { type: "header", text: { type: "plain_text", text: "🔥 Run dead: order-to-invoice" } },
    {
      type: "section",
      fields: [
        { type: "mrkdwn", text: "*Integration*\norder-to-invoice" },
        { type: "mrkdwn", text: "*Dead runs*\n3" },
      ],
    },
    { type: "context", elements: [{ type: "mrkdwn", text: "First seen 2026-12-06T16:00:00Z" }] },
    {
      type: "actions",
      elements: [
        { type: "button", text: { type: "plain_text", text: "Open the run" }, url: "http://127.0.0.1:3000/runs/r1" },
      ],
    },
  ],
};

function post(body: unknown, url = chat.webhookUrl("#ops"), contentType = "application/json") {
  return fetch(url, {
    method: "POST",
    headers: { "content-type": contentType },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

async function answer(response: Promise<Response>): Promise<{ status: number; body: string; type: string | null }> {
  const done = await response;
  return { status: done.status, body: await done.text(), type: done.headers.get("content-type") };
}

beforeAll(async () => {
  sandbox = await startTestSandbox({ chat: (context) => createChat(context, { channels: ["#ops", "#eng-alerts"] }) });
  chat = sandbox.system<ChatSystem>("chat");
});

beforeEach(() => {
  sandbox.setFaults("chat", { rateLimitRate: null, errorRate: null });
});

afterAll(async () => {
  await sandbox.close();
});

describe("chat sandbox (Slack incoming webhooks)", () => {
  it("gives one webhook URL per channel as credentials", () => {
    const credentials = sandbox.credentials("chat");
    expect(Object.keys(credentials)).toEqual(["opsWebhookUrl", "engAlertsWebhookUrl"]);
    expect(credentials.opsWebhookUrl).toMatch(/\/chat\/services\/T[A-Z0-9]{10}\/B[A-Z0-9]{10}\/[A-Za-z0-9]{24}$/);
    expect(chat.webhookUrl("#ops")).toBe(credentials.opsWebhookUrl);
  });

  it("stores a valid Block Kit message in its channel and answers 200 ok in plain text", async () => {
    const reply = await answer(post(alertMessage));
    expect(reply).toEqual({ status: 200, body: "ok", type: "text/plain; charset=utf-8" });
    const stored = chat.messages("#ops").at(-1);
    expect(stored).toMatchObject({
      channel: "#ops",
      text: alertMessage.text,
      blocks: alertMessage.blocks,
      ts: expect.stringMatching(/^\d+\.\d{6}$/),
    });
    expect(chat.messages("#eng-alerts")).toEqual([]);

    const state = (await (await fetch(`${sandbox.url}/_sandbox/chat/state`)).json()) as {
      channels: { channel: string; messages: number }[];
      messages: { text: string }[];
    };
    expect(state.channels).toContainEqual({ channel: "#ops", archived: false, messages: 1 });
    expect(state.messages.at(-1)?.text).toBe(alertMessage.text);
  });

  it("keeps a threaded reply's thread_ts, and gives every message its own ts", async () => {
    await post({ text: "first" });
    const first = chat.messages().at(-1);
    await post({ text: "RESOLVED", thread_ts: first?.ts });
    const reply = chat.messages().at(-1);
    expect(reply?.threadTs).toBe(first?.ts);
    expect(reply?.ts).not.toBe(first?.ts);
  });

  it("answers 400 invalid_payload for a body that is not JSON, or has neither text nor blocks", async () => {
    const before = chat.messages().length;
    expect(await answer(post("{ not json"))).toMatchObject({ status: 400, body: "invalid_payload" });
    expect(await answer(post({ username: "tenon" }))).toMatchObject({ status: 400, body: "invalid_payload" });
    expect(await answer(post({ text: "", blocks: [] }))).toMatchObject({ status: 400, body: "invalid_payload" });
    expect(chat.messages().length).toBe(before);
  });

  it("answers 400 invalid_blocks for an unknown block type or a malformed block", async () => {
    const invalid: unknown[][] = [
      [{ type: "modal_only_thing" }],
      [{ type: "🔥 not a block" }],
      [{ type: "header", text: { type: "mrkdwn", text: "*bold*" } }],
      [{ type: "header", text: { type: "plain_text", text: "x".repeat(151) } }],
      [{ type: "section" }],
      [{ type: "section", fields: Array.from({ length: 11 }, () => ({ type: "mrkdwn", text: "f" })) }],
      [{ type: "context", elements: Array.from({ length: 11 }, () => ({ type: "plain_text", text: "c" })) }],
      [{ type: "actions", elements: [{ type: "button", text: { type: "mrkdwn", text: "Go" }, url: "http://x" }] }],
      [{ type: "actions", elements: [{ type: "button", text: { type: "plain_text", text: "Go" } }] }],
      Array.from({ length: 51 }, () => ({ type: "divider" })),
    ];
    for (const blocks of invalid) {
      const reply = await answer(post({ text: "fallback", blocks }));
      expect({ blocks, ...reply }).toMatchObject({ blocks, status: 400, body: "invalid_blocks" });
    }
    const reason = (await post({ text: "fallback", blocks: [{ type: "section" }] })).headers.get("x-sandbox-reason");
    expect(reason).toBe("blocks[0]: a section needs text or fields");
    const fifty = Array.from({ length: 50 }, () => ({ type: "divider" }));
    expect((await answer(post({ text: "fallback", blocks: fifty }))).status).toBe(200);
  });

  it("answers 403 invalid_token for a wrong token or revoked credentials, 404 no_service for an unknown webhook", async () => {
    const url = chat.webhookUrl("#ops");
    const wrongToken = url.replace(/\/[A-Za-z0-9]{24}$/, "/AAAAAAAAAAAAAAAAAAAAAAAA");
    expect(await answer(post({ text: "hi" }, wrongToken))).toMatchObject({ status: 403, body: "invalid_token" });

    const unknownService = url.replace(/\/B[A-Z0-9]{10}\//, "/B0000000000/");
    expect(await answer(post({ text: "hi" }, unknownService))).toMatchObject({ status: 404, body: "no_service" });
    expect(await answer(post({ text: "hi" }, `${sandbox.baseUrl("chat")}/services/T1/B1`))).toMatchObject({
      status: 404,
      body: "no_service",
    });

    sandbox.setFaults("chat", { revokeCredentials: true });
    expect(await answer(post({ text: "hi" }))).toMatchObject({ status: 403, body: "invalid_token" });
    sandbox.setFaults("chat", { restoreCredentials: true });
    expect((await answer(post({ text: "hi" }))).status).toBe(200);
  });

  it("answers 410 channel_is_archived while the channel is archived (a control route)", async () => {
    const archive = await fetch(`${sandbox.url}/_sandbox/chat/channels/eng-alerts/archive`, { method: "POST" });
    expect(await archive.json()).toEqual({ channel: "#eng-alerts", archived: true });
    const url = chat.webhookUrl("#eng-alerts");
    expect(await answer(post({ text: "hi" }, url))).toMatchObject({ status: 410, body: "channel_is_archived" });
    expect(chat.messages("#eng-alerts")).toEqual([]);

    await fetch(`${sandbox.url}/_sandbox/chat/channels/eng-alerts/unarchive`, { method: "POST" });
    expect((await answer(post({ text: "hi" }, url))).status).toBe(200);
    expect(chat.messages("#eng-alerts").map((message) => message.text)).toEqual(["hi"]);
  });

  it("answers 429 with Retry-After under the rate-limit fault, keeps nothing, and captures the request", async () => {
    sandbox.setFaults("chat", { rateLimitRate: 1, retryAfterSeconds: 30 });
    const before = chat.messages().length;
    const response = await post({ text: "throttled" });
    expect(response.status).toBe(429);
    expect(response.headers.get("retry-after")).toBe("30");
    expect(chat.messages().length).toBe(before);
    expect(sandbox.requests("chat").at(-1)).toMatchObject({ method: "POST", body: '{"text":"throttled"}' });
    expect(sandbox.injectedFaults("chat").rate_limited).toBeGreaterThanOrEqual(1);
  });
});
