import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { postmark } from "../../src/connectors/postmark/index.ts";
import { createSandbox, type Sandbox } from "../../src/sandbox/create-sandbox.ts";
import { createEmail, type EmailSystem } from "../../src/sandbox/systems/email.ts";
import { connectToSandbox, type SandboxConnections } from "../support/sandbox.ts";

let sandbox: Sandbox;
let connections: SandboxConnections;

beforeAll(async () => {
  sandbox = createSandbox({ systems: { email: (context) => createEmail(context) } });
  await sandbox.listen();
  connections = await connectToSandbox({
    email: postmark.connection({ baseUrl: sandbox.baseUrl("email"), credentials: sandbox.credentials("email") }),
  });
});

afterAll(async () => {
  await connections.close();
  await sandbox.close();
});

describe("check-then-act operations", () => {
  it("give each call in a step its own default reference, the same on every attempt of the step", async () => {
    const mail = postmark.client(connections.client("email"));
    const message = (subject: string) => ({
      from: "shop@example.com",
      to: "ada@example.com",
      subject,
      textBody: subject,
    });
    const sendBoth = () =>
      connections.inStep(
        async () => [await mail.sendEmail(message("receipt")), await mail.sendEmail(message("survey"))],
        { key: "run-1:follow-up" },
      );

    const first = await sendBoth();
    expect(first.map((sent) => sent.alreadySent)).toEqual([false, false]);
    // The step is retried (its result was not journaled): both emails are found, none is sent again.
    const retried = await sendBoth();
    expect(retried.map((sent) => sent.alreadySent)).toEqual([true, true]);
    expect(retried.map((sent) => sent.messageId)).toEqual(first.map((sent) => sent.messageId));

    const sent = sandbox.system<EmailSystem>("email").messages();
    expect(sent.map((email) => email.Subject)).toEqual(["receipt", "survey"]);
    expect(sent.map((email) => email.Metadata.tenon_ref)).toEqual(["run-1:follow-up", "run-1:follow-up:2"]);
  });
});
