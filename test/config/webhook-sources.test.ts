import { describe, expect, it } from "vitest";
import { assertConfig } from "../../src/config/define-config.ts";
import { readSettings } from "../../src/config/settings.ts";
import { resolveWebhookSources } from "../../src/ingestion/webhooks/webhook-sources.ts";
import { definePoll } from "../../src/sdk/define-poll.ts";

describe("webhook source configuration", () => {
  it("builds a verifier per source, generic HMAC included", () => {
    const sources = resolveWebhookSources({
      payments: { provider: "stripe", secrets: ["whsec_a", "whsec_b"], toleranceSec: 60 },
      erp: { provider: "generic-hmac", secrets: ["s"], signatureHeader: "X-Sig", algorithm: "sha256", encoding: "hex" },
    });
    expect([...sources.keys()]).toEqual(["payments", "erp"]);
    expect(sources.get("payments")?.resolveSecrets()).toEqual(["whsec_a", "whsec_b"]);
    expect(sources.get("payments")?.toleranceSec).toBe(60);
    expect(sources.get("erp")?.toleranceSec).toBe(300);
  });

  it("says what is wrong, and never echoes a secret", () => {
    expect(() => resolveWebhookSources({ "Bad Name": { provider: "stripe", secrets: ["x"] } })).toThrow(
      /webhooks.Bad Name: a source name is its URL path/,
    );
    expect(() => resolveWebhookSources({ s: { provider: "paypal" as "stripe", secrets: ["x"] } })).toThrow(
      /unknown provider "paypal"; known: stripe, shopify/,
    );
    expect(() => resolveWebhookSources({ s: { provider: "toString" as "stripe", secrets: ["x"] } })).toThrow(
      /unknown provider/,
    );
    const noSecret = () => resolveWebhookSources({ s: { provider: "github", secrets: ["super-secret-value", ""] } });
    expect(noSecret).toThrow(
      /webhooks.s.secrets must be a non-empty array of secretFromEnv\("NAME"\) or non-empty strings/,
    );
    expect(noSecret).not.toThrow(/super-secret-value/);
    expect(() =>
      resolveWebhookSources({
        s: {
          provider: "generic-hmac",
          secrets: ["x"],
          signatureHeader: "",
          algorithm: "md5" as "sha1",
          encoding: "hex",
        },
      }),
    ).toThrow(/webhooks.s: .*signatureHeader.*algorithm|webhooks.s: .*algorithm/s);
    expect(() => resolveWebhookSources({ s: { provider: "slack", secrets: ["x"], toleranceSec: 0 } })).toThrow(
      /toleranceSec must be a whole number of seconds ≥ 1/,
    );
  });

  it("the config accepts webhooks and polls, and rejects what is not a poll source", () => {
    const poll = definePoll({
      id: "inv",
      every: "1m",
      eventType: "t",
      itemId: String,
      fetch: async () => ({ items: [], nextCursor: null }),
    });
    expect(() => assertConfig({ integrations: [], webhooks: {}, polls: [poll] })).not.toThrow();
    expect(() => assertConfig({ integrations: [], polls: [{ id: "x" }] })).toThrow(/polls\[0\] is not a poll source/);
    expect(() => assertConfig({ integrations: [], webhooks: [] })).toThrow(/"webhooks" must be an object/);
    expect(() =>
      definePoll({
        id: "p",
        every: "1ms",
        eventType: "t",
        itemId: String,
        fetch: async () => ({ items: [], nextCursor: null }),
      }),
    ).toThrow(/every must be at least 10ms/);
  });

  it("reads the HTTP settings from the environment with laptop defaults", () => {
    expect(readSettings({})).toMatchObject({
      httpHost: "127.0.0.1",
      httpPort: 3000,
      apiTokens: [],
      bodyLimit: 1048576,
    });
    expect(
      readSettings({
        TENON_HTTP_PORT: "0",
        TENON_API_TOKENS: "a, b,,",
        TENON_PUBLIC_URL: "https://hooks.example.com/",
      }),
    ).toMatchObject({
      httpPort: 0,
      // Bare tokens are admins, as every token was before roles.
      apiTokens: [
        { name: "env-1", role: "admin", token: "a" },
        { name: "env-2", role: "admin", token: "b" },
      ],
      publicUrl: "https://hooks.example.com",
    });
    expect(() => readSettings({ TENON_HTTP_PORT: "70000" })).toThrow(
      /TENON_HTTP_PORT is "70000"; it must be a whole number from 0 to 65535/,
    );
    expect(() => readSettings({ TENON_PUBLIC_URL: "hooks.example.com/x" })).toThrow(/TENON_PUBLIC_URL/);
  });
});
