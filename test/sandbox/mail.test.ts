import nodemailer, { type SendMailOptions } from "nodemailer";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createSandbox, type Sandbox } from "../../src/sandbox/create-sandbox.ts";
import { createMail, type MailSystem } from "../../src/sandbox/systems/mail.ts";

let sandbox: Sandbox;
let mail: MailSystem;
/** What the sandbox's random draws return: it picks which injected error strikes (below 1/3: a 500). */
let roll = 0.5;

function transport(auth: { user: string; pass: string } | undefined = undefined) {
  const { smtpHost, smtpPort, username, password } = sandbox.credentials("mail");
  return nodemailer.createTransport({
    host: smtpHost,
    port: Number(smtpPort),
    secure: false,
    ignoreTLS: true,
    auth: auth ?? { user: username as string, pass: password as string },
  });
}

async function send(message: SendMailOptions, auth?: { user: string; pass: string }) {
  const transporter = transport(auth);
  try {
    return await transporter.sendMail(message);
  } finally {
    transporter.close();
  }
}

/** The error nodemailer gives for a refused message (its SMTP reply code), or "sent". */
async function refusal(message: SendMailOptions, auth?: { user: string; pass: string }) {
  try {
    await send(message, auth);
    return "sent";
  } catch (error) {
    return (error as { responseCode?: number }).responseCode;
  }
}

const firing = {
  from: '"Tenon alerts" <alerts@tenon.example>',
  to: "ops@shop.example",
  cc: "oncall@shop.example",
  subject: "[FIRING] Run dead: order-to-invoice",
  messageId: "<3f2a9c@tenon.example>",
  text: "3 runs of order-to-invoice are dead.",
  html: "<p>3 runs of <b>order-to-invoice</b> are dead.</p>",
  headers: { "X-Tenon-Alert": "3f2a9c" },
};

beforeAll(async () => {
  sandbox = createSandbox({
    systems: { mail: (context) => createMail(context, { maxMessageBytes: 4_096 }) },
    random: () => roll,
  });
  await sandbox.listen();
  mail = sandbox.system<MailSystem>("mail");
});

beforeEach(() => {
  roll = 0.5;
  sandbox.setFaults("mail", { outageUntil: null, errorRate: null, errorTiming: null, rateLimitRate: null });
});

afterAll(async () => {
  await sandbox.close();
});

describe("mail sandbox (SMTP)", () => {
  it("gives its SMTP host, port and login as credentials, and shows where it listens in the state", async () => {
    const credentials = sandbox.credentials("mail");
    expect(credentials).toEqual({
      smtpHost: "127.0.0.1",
      smtpPort: String(mail.smtpAddress().port),
      username: "sandbox",
      password: expect.stringMatching(/^[0-9a-f]{32}$/),
    });
    const state = (await (await fetch(`${sandbox.url}/_sandbox/mail/state`)).json()) as Record<string, unknown>;
    expect(state).toMatchObject({ system: "mail", smtp: mail.smtpAddress(), maxMessageBytes: 4_096 });
    expect(JSON.stringify(state)).not.toContain(credentials.password);
  });

  it("keeps a message sent with nodemailer and the sandbox's credentials, parsed, with all its headers", async () => {
    const info = await send(firing);
    expect(info.response).toMatch(/^250 Message queued as [0-9A-F]{12}$/);
    const stored = mail.messages().at(-1);
    expect(stored).toMatchObject({
      envelope: { from: "alerts@tenon.example", to: ["ops@shop.example", "oncall@shop.example"] },
      from: '"Tenon alerts" <alerts@tenon.example>',
      to: ["ops@shop.example"],
      cc: ["oncall@shop.example"],
      subject: "[FIRING] Run dead: order-to-invoice",
      messageId: "<3f2a9c@tenon.example>",
      inReplyTo: null,
      references: [],
      text: "3 runs of order-to-invoice are dead.",
      html: "<p>3 runs of <b>order-to-invoice</b> are dead.</p>",
      user: "sandbox",
      date: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    expect(stored?.headers).toMatchObject({
      "message-id": "<3f2a9c@tenon.example>",
      subject: "[FIRING] Run dead: order-to-invoice",
      "x-tenon-alert": "3f2a9c",
      "mime-version": "1.0",
    });
    const captured = sandbox.requests("mail").at(-1);
    expect(captured).toMatchObject({ method: "DATA", headers: { "message-id": "<3f2a9c@tenon.example>" } });
    expect(captured?.body).toContain("Subject: [FIRING] Run dead: order-to-invoice");
  });

  it("keeps a reply's In-Reply-To and References, so it threads to the message it answers", async () => {
    await send({
      ...firing,
      subject: "[RESOLVED] Run dead: order-to-invoice",
      messageId: "<3f2a9c.resolved@tenon.example>",
      inReplyTo: "<3f2a9c@tenon.example>",
      references: ["<3f2a9c@tenon.example>"],
    });
    expect(mail.messages().at(-1)).toMatchObject({
      messageId: "<3f2a9c.resolved@tenon.example>",
      inReplyTo: "<3f2a9c@tenon.example>",
      references: ["<3f2a9c@tenon.example>"],
      headers: { "in-reply-to": "<3f2a9c@tenon.example>", references: "<3f2a9c@tenon.example>" },
    });
  });

  it("refuses a wrong password with 535, and revoked credentials too", async () => {
    const before = mail.messages().length;
    expect(await refusal(firing, { user: "sandbox", pass: "wrong" })).toBe(535);
    sandbox.setFaults("mail", { revokeCredentials: true });
    expect(await refusal(firing)).toBe(535);
    sandbox.setFaults("mail", { restoreCredentials: true });
    expect(await refusal(firing)).toBe("sent");
    expect(mail.messages().length).toBe(before + 1);
  });

  it("refuses mail from a client that does not authenticate", async () => {
    const { smtpHost, smtpPort } = sandbox.credentials("mail");
    const anonymous = nodemailer.createTransport({
      host: smtpHost,
      port: Number(smtpPort),
      secure: false,
      ignoreTLS: true,
    });
    const error = await anonymous.sendMail(firing).then(
      () => undefined,
      (failure: { responseCode?: number }) => failure,
    );
    anonymous.close();
    expect(error?.responseCode).toBe(530);
  });

  it("answers 421 during an outage fault, and accepts mail again after it", async () => {
    const before = mail.messages().length;
    sandbox.setFaults("mail", { outageUntil: Date.now() + 60_000 });
    expect(await refusal(firing)).toBe(421);
    expect(sandbox.injectedFaults("mail").outage).toBeGreaterThanOrEqual(1);
    sandbox.setFaults("mail", { outageUntil: null });
    expect(await refusal(firing)).toBe("sent");
    expect(mail.messages().length).toBe(before + 1);
  });

  it("fails DATA with 451 (temporary) or 554 (permanent) under error faults; an error after processing keeps the message", async () => {
    const before = mail.messages().length;
    sandbox.setFaults("mail", { errorRate: 1, errorTiming: "before" });
    roll = 0.9; // an injected 503: temporary
    expect(await refusal(firing)).toBe(451);
    roll = 0; // an injected 500: permanent
    expect(await refusal(firing)).toBe(554);
    expect(mail.messages().length).toBe(before);

    sandbox.setFaults("mail", { errorTiming: "after" });
    roll = 0.9;
    expect(await refusal(firing)).toBe(451);
    expect(mail.messages().length).toBe(before + 1);
  });

  it("answers 451 with a wait under the rate-limit fault", async () => {
    sandbox.setFaults("mail", { rateLimitRate: 1, retryAfterSeconds: 9 });
    roll = 0;
    expect(await refusal(firing)).toBe(451);
  });

  it("refuses a message over its size limit with 552", async () => {
    const before = mail.messages().length;
    expect(await refusal({ ...firing, text: "x".repeat(8_000) })).toBe(552);
    expect(mail.messages().length).toBe(before);
  });
});
