import { describe, expect, it } from "vitest";
import { assertSecretsSet } from "../../src/config/assert-secrets-set.ts";
import { assertConfig, type TenonConfig } from "../../src/config/define-config.ts";
import { outgoingText } from "../../src/operational-webhooks/occurrence.ts";
import { resolveSigningSecrets } from "../../src/operational-webhooks/operational-webhooks-config.ts";
import { secretFromEnv } from "../../src/sdk/secret-from-env.ts";

const secret = `whsec_${Buffer.from("a-signing-key-of-32-random-bytes").toString("base64")}`;
const ops = { url: "https://ops.example.com/tenon", secrets: [secret], events: ["run.dead"] };
const check = (operationalWebhooks: unknown) => () =>
  assertConfig({ integrations: [], operationalWebhooks }, "tenon.config.ts");

describe("operationalWebhooks in the config", () => {
  it("accepts subscribers with known event types, or all of them", () => {
    expect(check({ ops, all: { ...ops, events: ["*"], disableAfter: "2d" } })).not.toThrow();
    expect(check({})).not.toThrow();
  });

  it("names an unknown event type and lists the valid ones", () => {
    expect(check({ ops: { ...ops, events: ["run.dead", "run.deed"] } })).toThrow(
      'tenon.config.ts: operationalWebhooks.ops.events: unknown event type "run.deed"; valid types: run.dead, run.failed, connection.auth_failed, connection.restored, alert.firing, alert.resolved, drift.detected, or "*" for all',
    );
    expect(check({ ops: { ...ops, events: [] } })).toThrow(
      "tenon.config.ts: operationalWebhooks.ops.events must be a non-empty array of event types: run.dead,",
    );
  });

  it("says what is wrong with a subscriber's name, keys, URL, secrets or disableAfter", () => {
    expect(check([])).toThrow("tenon.config.ts: operationalWebhooks must be an object { <subscriber name>:");
    expect(check({ Ops: ops })).toThrow(
      'operationalWebhooks.Ops: a subscriber name is 1-41 characters of a-z, 0-9, "_" or "-"',
    );
    expect(check({ ops: { ...ops, secret } })).toThrow(
      'operationalWebhooks.ops: unknown key "secret"; allowed keys: url, secrets, events, disableAfter',
    );
    expect(check({ ops: { ...ops, url: "ops.example.com/tenon" } })).toThrow(
      'operationalWebhooks.ops.url must be an http(s) URL, got "ops.example.com/tenon"',
    );
    expect(check({ ops: { ...ops, secrets: [] } })).toThrow(
      'operationalWebhooks.ops.secrets must be a non-empty array of secretFromEnv("NAME")',
    );
    expect(check({ ops: { ...ops, disableAfter: "soon" } })).toThrow(
      'operationalWebhooks.ops.disableAfter: duration "soon" is not understood',
    );
    expect(check({ ops: { ...ops, disableAfter: 0 } })).toThrow(
      "operationalWebhooks.ops.disableAfter must be longer than 0",
    );
  });

  it("refuses a signing secret that is not whsec_ and 24 to 64 bytes, without quoting it", () => {
    const short = `whsec_${Buffer.from("too-short-key").toString("base64")}`;
    const attempt = check({ ops: { ...ops, secrets: [secret, short] } });
    expect(attempt).toThrow(
      'operationalWebhooks.ops.secrets[1] is not a Standard Webhooks signing secret: it must be "whsec_" and the base64 of 24 to 64 random bytes',
    );
    expect(() => attempt()).not.toThrow(short);
    // One read from the environment is checked when Tenon starts, naming its variable.
    const env = { OPS_SECRET: "plain-password-not-whsec" };
    expect(() => resolveSigningSecrets("ops", [secretFromEnv("OPS_SECRET", env)])).toThrow(
      "operationalWebhooks: OPS_SECRET (ops.secrets[0]) is not a Standard Webhooks signing secret",
    );
    expect(() => resolveSigningSecrets("ops", [secretFromEnv("OPS_SECRET", env)])).not.toThrow("plain-password");
    expect(resolveSigningSecrets("ops", [secretFromEnv("OPS_SECRET", { OPS_SECRET: secret })])).toEqual([secret]);
  });

  it("tenon start names a subscriber's unset secret variable with the others", () => {
    const config = {
      integrations: [],
      operationalWebhooks: { ops: { ...ops, secrets: [secretFromEnv("OPS_WEBHOOK_SECRET", {})] } },
    } as TenonConfig;
    expect(() => assertSecretsSet(config, "tenon start")).toThrow(
      "OPS_WEBHOOK_SECRET (operationalWebhooks.ops.secrets[0])",
    );
  });
});

describe("text that goes out in a delivery", () => {
  it("hides the secrets Tenon knows and credentials written out by mistake, then truncates", () => {
    const text = `POST failed with Authorization: Bearer abcdefgh12345678 and key ${secret}; password hunter2-longer`;
    const shown = outgoingText(text, ["hunter2-longer"]);
    expect(shown).toBe("POST failed with Authorization: Bearer [REDACTED] and key [REDACTED]; password [REDACTED]");
    expect(outgoingText("x".repeat(5000), []).length).toBeLessThan(2200);
  });
});
