import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/load-config.ts";
import { readSettings } from "../../src/config/settings.ts";
import { type DevEnvironment, startDevEnvironment } from "../../src/demo/dev-environment.ts";
import { engineSummary, readEngineCounts } from "../../src/demo/engine-summary.ts";
import type { ChatSystem } from "../../src/sandbox/systems/chat.ts";
import type { MailSystem } from "../../src/sandbox/systems/mail.ts";
import type { createStore } from "../../src/sandbox/systems/store.ts";
import { testVault } from "../support/connections.ts";
import { silentLogger } from "../support/engine.ts";
import { waitFor } from "../support/wait.ts";

/**
 * The demo's faults raise alerts that reach a person: the example config sends them to the sandbox's Slack
 * channel and mailbox, and the demo's summary shows them. The accounting token revoked (as the demo does every
 * few minutes) → one alert in #ops and one email; re-authorised through Tenon's OAuth route → one resolved
 * message in each, the email threaded to the first. The evaluator runs on the real clock here (every 5 s, the
 * example's setting): this checks the wiring, test/alerting checks the rules with an injected clock.
 */
const examplesConfig = fileURLToPath(new URL("../../examples/tenon.config.ts", import.meta.url));
const before = { ...process.env };
let dev: DevEnvironment;

beforeAll(async () => {
  dev = await startDevEnvironment({
    purpose: "the demo alerts test",
    loadConfig: () => loadConfig(examplesConfig),
    databasePath: ":memory:",
    settings: readSettings({ TENON_HTTP_PORT: "0", TENON_LOG_LEVEL: "silent" }),
    logger: silentLogger,
    sandboxPort: 0,
    webhookTimeScale: 60,
    vault: testVault(),
  });
});

afterAll(async () => {
  await dev?.stop(10_000);
  for (const name of Object.keys(process.env)) if (!(name in before)) delete process.env[name];
  Object.assign(process.env, before);
});

async function summaryBlock(): Promise<string> {
  const counts = await readEngineCounts(dev.services);
  return engineSummary(counts, dev.sandbox, { title: "Tenon demo", elapsedMs: 0, extra: [] }).block.join("\n");
}

describe("the demo's alerts", () => {
  it("a revoked accounting token is told once in #ops and by email, shown in the summary, and resolved once", async () => {
    const chat = dev.sandbox.system<ChatSystem>("chat");
    const mail = dev.sandbox.system<MailSystem>("mail");
    expect(await summaryBlock()).toContain("alerts       none firing · resolved 0");

    dev.sandbox.setFaults("accounting", { revokeCredentials: true });
    dev.sandbox.system<ReturnType<typeof createStore>>("store").placeOrder();

    const firing = await waitFor(
      "the auth alert to reach #ops and the mailbox",
      () => {
        const messages = chat.messages("#ops");
        const mails = mail.messages();
        return messages.length > 0 && mails.length > 0 ? { message: messages[0], mail: mails[0] } : null;
      },
      60_000,
    );
    expect(firing.message?.text).toMatch(/accounting/);
    expect(firing.mail?.subject).toMatch(/accounting/);
    expect(firing.mail?.to).toEqual(["ops@example.com"]);
    expect(await summaryBlock()).toMatch(/alerts {7}FIRING 1: .*accounting/);

    // Re-authorised the way the demo does it: through Tenon's OAuth route and the provider's consent.
    const consent = await fetch(`${dev.services.address}/oauth/accounting/start`, { redirect: "follow" });
    await consent.arrayBuffer();
    expect(consent.status).toBe(200);

    const resolvedMail = await waitFor(
      "the resolved email",
      () => mail.messages().find((message) => message.inReplyTo !== null) ?? null,
      60_000,
    );
    expect(resolvedMail.inReplyTo).toBe(firing.mail?.messageId);
    await waitFor("the resolved Slack message", () => (chat.messages("#ops").length === 2 ? true : null), 60_000);
    expect(await summaryBlock()).toContain("alerts       none firing · resolved 1");
    // Once each: no second firing message while it fired, no second resolved one after.
    expect(chat.messages("#ops")).toHaveLength(2);
    expect(mail.messages()).toHaveLength(2);
  });
});
