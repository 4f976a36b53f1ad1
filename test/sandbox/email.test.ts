import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Sandbox } from "../../src/sandbox/create-sandbox.ts";
import { createEmail, type EmailSystem } from "../../src/sandbox/systems/email.ts";
import { startTestSandbox } from "../support/sandbox.ts";

// biome-ignore lint/suspicious/noExplicitAny: an answer's JSON, which the assertions check
type Json = any;
const read = (response: Response | Promise<Response>): Promise<Json> => Promise.resolve(response).then((r) => r.json());

let sandbox: Sandbox;
let token: string;

const json = { accept: "application/json", "content-type": "application/json" };

function send(message: object, headers: Record<string, string> = { ...json, "x-postmark-server-token": token }) {
  return fetch(`${sandbox.baseUrl("email")}/email`, { method: "POST", headers, body: JSON.stringify(message) });
}

function search(query: string) {
  return fetch(`${sandbox.baseUrl("email")}/messages/outbound?${query}`, {
    headers: { accept: "application/json", "x-postmark-server-token": token },
  });
}

const welcome = {
  From: "Shop <orders@shop.example>",
  To: "ada@example.com",
  Subject: "Your order #1001",
  TextBody: "Thank you for your order.",
  Tag: "order-confirmation",
  Metadata: { order: "1001" },
};

beforeAll(async () => {
  sandbox = await startTestSandbox({ email: (context) => createEmail(context) });
  token = sandbox.credentials("email").apiKey as string;
});

afterAll(async () => {
  await sandbox.close();
});

describe("email sandbox (Postmark-like)", () => {
  it("accepts a message sent with the server token and answers as Postmark does", async () => {
    const response = await send(welcome);
    expect(response.status).toBe(200);
    const body = await read(response);
    expect(body).toEqual({
      To: "ada@example.com",
      SubmittedAt: expect.any(String),
      MessageID: expect.stringMatching(/^[0-9a-f-]{36}$/),
      ErrorCode: 0,
      Message: "OK",
    });
    const stored = sandbox.system<EmailSystem>("email").messages().at(-1);
    expect(stored).toMatchObject({
      MessageID: body.MessageID,
      Subject: "Your order #1001",
      Metadata: { order: "1001" },
    });
  });

  it("refuses a request without the token, or with a wrong or revoked one, with 401 and ErrorCode 10", async () => {
    const missing = await send(welcome, json);
    expect(missing.status).toBe(401);
    expect(await read(missing)).toMatchObject({
      ErrorCode: 10,
      Message: expect.stringContaining("X-Postmark-Server-Token"),
    });

    const wrong = await send(welcome, { ...json, "x-postmark-server-token": "not-the-token" });
    expect(wrong.status).toBe(401);
    expect(await read(wrong)).toMatchObject({ ErrorCode: 10 });

    sandbox.setFaults("email", { revokeCredentials: true });
    expect((await send(welcome)).status).toBe(401);
    sandbox.setFaults("email", { restoreCredentials: true });
    expect((await send(welcome)).status).toBe(200);
  });

  it("validates the message with Postmark's ErrorCode 300", async () => {
    const badTo = await send({ ...welcome, To: "not-an-address" });
    expect(badTo.status).toBe(422);
    expect(await read(badTo)).toEqual({ ErrorCode: 300, Message: "Invalid 'To' address: 'not-an-address'." });

    const noBody = await send({ ...welcome, TextBody: undefined });
    expect(await read(noBody)).toEqual({
      ErrorCode: 300,
      Message: "Provide either email TextBody or HtmlBody or both.",
    });

    const noRecipient = await send({ ...welcome, To: undefined });
    expect(await read(noRecipient)).toEqual({ ErrorCode: 300, Message: "Zero recipients specified" });
  });

  it("requires JSON: another content type or a missing Accept is ErrorCode 409, broken JSON 402", async () => {
    const headers = { "x-postmark-server-token": token };
    const form = await fetch(`${sandbox.baseUrl("email")}/email`, {
      method: "POST",
      headers: { ...headers, accept: "application/json", "content-type": "application/x-www-form-urlencoded" },
      body: "From=a@b.example",
    });
    expect(form.status).toBe(422);
    expect(await read(form)).toMatchObject({ ErrorCode: 409 });

    const noAccept = await fetch(`${sandbox.baseUrl("email")}/email`, {
      method: "POST",
      headers: { ...headers, accept: "text/html", "content-type": "application/json" },
      body: JSON.stringify(welcome),
    });
    expect(await read(noAccept)).toMatchObject({ ErrorCode: 409 });

    const broken = await fetch(`${sandbox.baseUrl("email")}/email`, {
      method: "POST",
      headers: { ...headers, ...json },
      body: "{ not json",
    });
    expect(broken.status).toBe(422);
    expect(await read(broken)).toEqual({ ErrorCode: 402, Message: "Received invalid JSON input." });
  });

  it("finds sent messages by recipient, tag and one metadata field, newest first", async () => {
    await send({ ...welcome, To: "grace@example.com", Metadata: { order: "2001" } });
    await send({ ...welcome, To: "Grace Hopper <grace@example.com>", Tag: "receipt", Metadata: { order: "2002" } });

    const byRecipient = await read(search("count=50&offset=0&recipient=grace@example.com"));
    expect(byRecipient.TotalCount).toBe(2);
    expect(byRecipient.Messages[0]).toMatchObject({
      To: [{ Email: "grace@example.com", Name: "Grace Hopper" }],
      Recipients: ["grace@example.com"],
      Tag: "receipt",
      Metadata: { order: "2002" },
      Status: "Sent",
      MessageStream: "outbound",
    });

    const byMetadata = await read(search("count=50&offset=0&metadata_order=2001"));
    expect(byMetadata.Messages.map((message: { Metadata: object }) => message.Metadata)).toEqual([{ order: "2001" }]);

    const byTag = await read(search("count=50&offset=0&recipient=grace@example.com&tag=receipt"));
    expect(byTag.TotalCount).toBe(1);

    const noCount = await search("offset=0");
    expect(noCount.status).toBe(422);
  });

  it("searches the default transactional stream unless messagestream names another, as Postmark does", async () => {
    await send({ ...welcome, To: "linus@example.com", MessageStream: "broadcast" });
    await send({ ...welcome, To: "linus@example.com" });

    const unnamed = await read(search("count=50&offset=0&recipient=linus@example.com"));
    expect(unnamed.Messages.map((message: { MessageStream: string }) => message.MessageStream)).toEqual(["outbound"]);
    const broadcast = await read(search("count=50&offset=0&recipient=linus@example.com&messagestream=broadcast"));
    expect(broadcast.Messages.map((message: { MessageStream: string }) => message.MessageStream)).toEqual([
      "broadcast",
    ]);
  });

  it("shows one message's details with its bodies", async () => {
    const { MessageID } = await read(send({ ...welcome, HtmlBody: "<p>Thank you.</p>" }));
    const details = await fetch(`${sandbox.baseUrl("email")}/messages/outbound/${MessageID}/details`, {
      headers: { accept: "application/json", "x-postmark-server-token": token },
    });
    expect(await read(details)).toMatchObject({
      MessageID,
      TextBody: "Thank you for your order.",
      HtmlBody: "<p>Thank you.</p>",
      MessageEvents: [{ Recipient: "ada@example.com", Type: "Delivered" }],
    });
    const unknown = await fetch(`${sandbox.baseUrl("email")}/messages/outbound/nope/details`, {
      headers: { accept: "application/json", "x-postmark-server-token": token },
    });
    expect(await read(unknown)).toMatchObject({ ErrorCode: 701 });
  });

  it("lists every message in its state, and the server token as the connection's apiKey", async () => {
    const state = await read(fetch(`${sandbox.url}/_sandbox/email/state`));
    expect(state.sent).toBe(sandbox.system<EmailSystem>("email").messages().length);
    expect(state.messages[0]).toMatchObject({ From: "Shop <orders@shop.example>", Status: "Sent" });
    expect(JSON.stringify(state)).not.toContain(token);
    expect(sandbox.credentials("email")).toEqual({ apiKey: token });
  });
});
