import { describe, expect, it } from "vitest";
import { defaultAuditRetentionMs, readSandboxWebhookTimeScale, readSettings } from "../../src/config/settings.ts";
import { ConfigurationError } from "../../src/sdk/errors.ts";

describe("settings", () => {
  it("keeps the audit trail 30 days unless TENON_AUDIT_RETENTION says otherwise", () => {
    expect(readSettings({}).auditRetentionMs).toBe(30 * 86_400_000);
    expect(defaultAuditRetentionMs).toBe(30 * 86_400_000);
    expect(readSettings({ TENON_AUDIT_RETENTION: "7d" }).auditRetentionMs).toBe(7 * 86_400_000);
    expect(readSettings({ TENON_AUDIT_RETENTION: "12h" }).auditRetentionMs).toBe(12 * 3_600_000);
    expect(readSettings({ TENON_AUDIT_RETENTION: " " }).auditRetentionMs).toBe(defaultAuditRetentionMs);
  });

  it("refuses a retention that is not a duration above zero, naming the variable", () => {
    for (const value of ["30", "a month", "0d", "-1h", "30 d"]) {
      expect(() => readSettings({ TENON_AUDIT_RETENTION: value }), value).toThrow(ConfigurationError);
      expect(() => readSettings({ TENON_AUDIT_RETENTION: value }), value).toThrow(
        `TENON_AUDIT_RETENTION is "${value}"`,
      );
    }
  });

  it("reads the sandbox's webhook time scale from TENON_SANDBOX_WEBHOOK_TIME_SCALE, refusing anything but a number > 0", () => {
    expect(readSandboxWebhookTimeScale({})).toBeUndefined();
    expect(readSandboxWebhookTimeScale({ TENON_SANDBOX_WEBHOOK_TIME_SCALE: "3600" })).toBe(3600);
    expect(readSandboxWebhookTimeScale({ TENON_SANDBOX_WEBHOOK_TIME_SCALE: "0.5" })).toBe(0.5);
    for (const value of ["0", "-2", "fast", "Infinity"]) {
      expect(() => readSandboxWebhookTimeScale({ TENON_SANDBOX_WEBHOOK_TIME_SCALE: value }), value).toThrow(
        `TENON_SANDBOX_WEBHOOK_TIME_SCALE is "${value}"`,
      );
    }
  });
});
