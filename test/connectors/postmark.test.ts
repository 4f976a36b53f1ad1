import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ResponseShapeError } from "../../src/connectors/define-connector.ts";
import { postmark } from "../../src/connectors/postmark/index.ts";
import { createSandbox, type Sandbox } from "../../src/sandbox/create-sandbox.ts";
import { createEmail, type EmailSystem } from "../../src/sandbox/systems/email.ts";
import { NonRetryableError, RetryableError } from "../../src/sdk/errors.ts";
import { connectToSandbox, type SandboxConnections } from "../support/sandbox.ts";

/** The sandbox's fault dice, rolled in order (then "no fault"): decides which request an injected 5xx hits. */
const rolls: number[] = [];

let sandbox: Sandbox;
let connections: SandboxConnections;
let email: EmailSystem;
let mail: ReturnType<typeof postmark.client>;

const confirmation = {
  from: "Shop <orders@shop.example>",
  to: "Ada Lovelace <ada@example.com>",
  subject: "Your order #1001",
  textBody: "Thank you for your order.",
  tag: "order-confirmation",
  metadata: { order: "1001" },
};

beforeAll(async () => {
  sandbox = createSandbox({
    systems: { email: (context) => createEmail(context) },
    random: () => rolls.shift() ?? 0.99,
  });
  await sandbox.listen();
  email = sandbox.system<EmailSystem>("email");
  connections = await connectToSandbox({
    email: postmark.connection({ baseUrl: sandbox.baseUrl("email"), credentials: sandbox.credentials("email") }),
  });
  mail = postmark.client(connections.client("email"));
});

beforeEach(() => {
  sandbox.setFaults("email", { errorRate: null, errorTiming: null, schemaChange: null });
});

afterAll(async () => {
  await connections.close();
  await sandbox.close();
});

const requestsSince = (count: number) => sandbox.requests("email").slice(count);

describe("postmark connector", () => {
  it("sends Postmark's documented requests: server token header, JSON Accept, PascalCase JSON body", async () => {
    const before = sandbox.requests("email").length;
    const sent = await connections.inStep(() => mail.sendEmail(confirmation), { key: "run-1:send-confirmation" });
    expect(sent).toEqual({
      messageId: expect.any(String),
      to: '"Ada Lovelace" <ada@example.com>',
      submittedAt: expect.any(String),
      alreadySent: false,
    });

    const [search, send] = requestsSince(before);
    const token = sandbox.credentials("email").apiKey;
    expect(search).toMatchObject({
      method: "GET",
      path: "/messages/outbound",
      query: { count: "1", offset: "0", recipient: "ada@example.com", metadata_tenon_ref: "run-1:send-confirmation" },
      headers: { "x-postmark-server-token": token, accept: "application/json" },
    });
    expect(send).toMatchObject({
      method: "POST",
      path: "/email",
      headers: { "x-postmark-server-token": token, accept: "application/json", "content-type": "application/json" },
    });
    // Postmark has no idempotency header: none is sent.
    expect(send?.headers["idempotency-key"]).toBeUndefined();
    expect(JSON.parse(send?.body ?? "")).toEqual({
      From: "Shop <orders@shop.example>",
      To: "Ada Lovelace <ada@example.com>",
      Subject: "Your order #1001",
      TextBody: "Thank you for your order.",
      Tag: "order-confirmation",
      Metadata: { order: "1001", tenon_ref: "run-1:send-confirmation" },
    });
  });

  it("a step retried after its email was sent but the answer lost sends exactly one email", async () => {
    const before = email.messages().length;
    sandbox.setFaults("email", { errorRate: 0.5, errorTiming: "after" });
    rolls.push(0.9, 0.1, 0); // the search passes; the send is processed, then answered 500
    const key = "run-2:send-confirmation";

    await expect(connections.inStep(() => mail.sendEmail(confirmation), { key })).rejects.toBeInstanceOf(
      RetryableError,
    );
    expect(email.messages().length).toBe(before + 1);

    sandbox.setFaults("email", { errorRate: null });
    const retried = await connections.inStep(() => mail.sendEmail(confirmation), { key, attempt: 2 });
    expect(retried.alreadySent).toBe(true);
    expect(retried.messageId).toBe(email.messages().at(-1)?.MessageID);
    expect(email.messages().length).toBe(before + 1);
  });

  it("a broadcast-stream send retried after its email was sent but the answer lost sends exactly one email", async () => {
    const before = email.messages().length;
    const requestsBefore = sandbox.requests("email").length;
    const broadcast = { ...confirmation, messageStream: "broadcast" };
    sandbox.setFaults("email", { errorRate: 0.5, errorTiming: "after" });
    rolls.push(0.9, 0.1, 0); // the search passes; the send is processed, then answered 500
    const key = "run-2b:send-announcement";

    await expect(connections.inStep(() => mail.sendEmail(broadcast), { key })).rejects.toBeInstanceOf(RetryableError);
    expect(email.messages().at(-1)?.MessageStream).toBe("broadcast");

    sandbox.setFaults("email", { errorRate: null });
    const retried = await connections.inStep(() => mail.sendEmail(broadcast), { key, attempt: 2 });
    expect(retried).toMatchObject({ alreadySent: true, messageId: email.messages().at(-1)?.MessageID });
    expect(email.messages().length).toBe(before + 1);
    // Postmark searches only the default transactional stream unless told which one.
    const searches = requestsSince(requestsBefore).filter((request) => request.method === "GET");
    expect(searches.map((request) => request.query.messagestream)).toEqual(["broadcast", "broadcast"]);
  });

  it("a reference given by the caller makes the email unique across steps", async () => {
    const before = email.messages().length;
    const input = { ...confirmation, reference: "order-1001-confirmation" };
    const first = await connections.inStep(() => mail.sendEmail(input), { key: "run-3:a" });
    const second = await connections.inStep(() => mail.sendEmail(input), { key: "run-4:b" });
    expect(second).toMatchObject({ messageId: first.messageId, alreadySent: true });
    expect(email.messages().length).toBe(before + 1);
    expect(email.messages().at(-1)?.Metadata.tenon_ref).toBe("order-1001-confirmation");
  });

  it("a step key longer than Postmark's 80-character metadata value is stored as its hash", async () => {
    const key = `run-5:${"x".repeat(200)}`;
    await connections.inStep(() => mail.sendEmail(confirmation), { key });
    const again = await connections.inStep(() => mail.sendEmail(confirmation), { key });
    expect(again.alreadySent).toBe(true);
    expect(email.messages().at(-1)?.Metadata.tenon_ref).toMatch(/^sha256:[\w-]{43}$/);
  });

  it("refuses bad input before sending anything", async () => {
    const before = sandbox.requests("email").length;
    const { textBody: _, ...noBody } = confirmation;
    await expect(mail.sendEmail(noBody)).rejects.toBeInstanceOf(NonRetryableError);
    await expect(mail.sendEmail({ ...confirmation, metadata: { tenon_ref: "mine" } })).rejects.toThrow(/reserved/);
    expect(sandbox.requests("email").length).toBe(before);
  });

  it("an answer whose shape changed fails with ResponseShapeError naming the field", async () => {
    sandbox.setFaults("email", { schemaChange: { field: "MessageID", action: "rename", to: "MessageId" } });
    const failure = connections.inStep(() => mail.sendEmail(confirmation), { key: "run-6:send" });
    await expect(failure).rejects.toBeInstanceOf(ResponseShapeError);
    await expect(failure).rejects.toThrow(/MessageID/);

    // The search is checked too: a renamed field must not read as "not sent yet" and send again.
    const again = connections.inStep(() => mail.sendEmail(confirmation), { key: "run-6:send" });
    await expect(again).rejects.toThrow(/GET \/messages\/outbound.*Messages\.0\.MessageID/);
  });
});
