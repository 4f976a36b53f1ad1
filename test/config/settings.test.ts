import { describe, expect, it } from "vitest";
import {
  defaultAuditRetentionMs,
  readSandboxPort,
  readSandboxWebhookTimeScale,
  readSettings,
} from "../../src/config/settings.ts";
import { ConfigurationError } from "../../src/sdk/errors.ts";

describe("settings", () => {
  it("keeps the audit trail 30 days unless TENON_AUDIT_RETENTION says otherwise", () => {
    expect(readSettings({}).auditRetentionMs).toBe(30 * 86_400_000);
    expect(defaultAuditRetentionMs).toBe(30 * 86_400_000);
    expect(readSettings({ TENON_AUDIT_RETENTION: "7d" }).auditRetentionMs).toBe(7 * 86_400_000);
    expect(readSettings({ TENON_AUDIT_RETENTION: "12h" }).auditRetentionMs).toBe(12 * 3_600_000);
    expect(readSettings({ TENON_AUDIT_RETENTION: " " }).auditRetentionMs).toBe(defaultAuditRetentionMs);
  });

  it("writes learned API shapes and drift every 2 s unless TENON_DRIFT_PERSIST says otherwise", () => {
    expect(readSettings({}).driftPersistMs).toBe(2000);
    expect(readSettings({ TENON_DRIFT_PERSIST: "500ms" }).driftPersistMs).toBe(500);
    expect(() => readSettings({ TENON_DRIFT_PERSIST: "2" })).toThrow('TENON_DRIFT_PERSIST is "2"');
  });

  it("refuses a retention that is not a duration above zero, naming the variable", () => {
    for (const value of ["30", "a month", "0d", "-1h", "30 d"]) {
      expect(() => readSettings({ TENON_AUDIT_RETENTION: value }), value).toThrow(ConfigurationError);
      expect(() => readSettings({ TENON_AUDIT_RETENTION: value }), value).toThrow(
        `TENON_AUDIT_RETENTION is "${value}"`,
      );
    }
  });

  it("prunes terminal runs after 30 days and dead ones after 90 unless TENON_RETENTION(_DEAD) say otherwise; off keeps them", () => {
    const day = 86_400_000;
    expect(readSettings({})).toMatchObject({ retentionMs: 30 * day, deadRetentionMs: 90 * day });
    expect(readSettings({ TENON_RETENTION: "7d", TENON_RETENTION_DEAD: "365d" })).toMatchObject({
      retentionMs: 7 * day,
      deadRetentionMs: 365 * day,
    });
    expect(readSettings({ TENON_RETENTION_DEAD: "OFF" })).toMatchObject({
      retentionMs: 30 * day,
      deadRetentionMs: null,
    });
    // Off means nothing of runs and events is pruned, dead ones included.
    expect(readSettings({ TENON_RETENTION: "off" })).toMatchObject({ retentionMs: null, deadRetentionMs: null });
    expect(readSettings({ TENON_RETENTION: "off", TENON_RETENTION_DEAD: "off" })).toMatchObject({
      retentionMs: null,
      deadRetentionMs: null,
    });
  });

  it("refuses a dead retention shorter than the retention, or set while retention is off", () => {
    expect(() => readSettings({ TENON_RETENTION: "120d" })).toThrow(
      "TENON_RETENTION_DEAD (90d) is shorter than TENON_RETENTION (120d)",
    );
    expect(() => readSettings({ TENON_RETENTION_DEAD: "10d" })).toThrow(
      "TENON_RETENTION_DEAD (10d) is shorter than TENON_RETENTION (30d)",
    );
    expect(() => readSettings({ TENON_RETENTION: "off", TENON_RETENTION_DEAD: "90d" })).toThrow(ConfigurationError);
    for (const value of ["30", "0d", "never"]) {
      expect(() => readSettings({ TENON_RETENTION: value }), value).toThrow(
        `TENON_RETENTION is "${value}"; it must be a duration greater than zero such as 30d, 12h or 90m, or off`,
      );
    }
  });

  it("bounds the HTTP server by default (headers in 10 s, a request in 30 s) and reads TENON_HTTP_* over the defaults", () => {
    expect(readSettings({}).httpLimits).toEqual({
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 30_000,
      keepAliveTimeoutMs: 5_000,
      maxConnections: 1_000,
    });
    const tuned = readSettings({
      TENON_HTTP_HEADERS_TIMEOUT_MS: "5000",
      TENON_HTTP_REQUEST_TIMEOUT_MS: "60000",
      TENON_HTTP_KEEP_ALIVE_TIMEOUT_MS: "75000",
      TENON_HTTP_MAX_CONNECTIONS: "200",
    });
    expect(tuned.httpLimits).toEqual({
      headersTimeoutMs: 5000,
      requestTimeoutMs: 60_000,
      keepAliveTimeoutMs: 75_000,
      maxConnections: 200,
    });
    // A headers timeout above the default request timeout carries the request timeout along.
    expect(readSettings({ TENON_HTTP_HEADERS_TIMEOUT_MS: "45000" }).httpLimits.requestTimeoutMs).toBe(45_000);
  });

  it("refuses HTTP limits that would disable the protection, naming the variable", () => {
    expect(() => readSettings({ TENON_HTTP_HEADERS_TIMEOUT_MS: "0" })).toThrow('TENON_HTTP_HEADERS_TIMEOUT_MS is "0"');
    expect(() => readSettings({ TENON_HTTP_MAX_CONNECTIONS: "0" })).toThrow('TENON_HTTP_MAX_CONNECTIONS is "0"');
    expect(() =>
      readSettings({ TENON_HTTP_HEADERS_TIMEOUT_MS: "20000", TENON_HTTP_REQUEST_TIMEOUT_MS: "15000" }),
    ).toThrow(/TENON_HTTP_REQUEST_TIMEOUT_MS \(15000\) is shorter than TENON_HTTP_HEADERS_TIMEOUT_MS/);
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

  it("puts the SQLite file where TENON_SQLITE_PATH says, else at the default the command asks for, else .tenon/tenon.db", () => {
    expect(readSettings({}, { cwd: "/project" }).sqlitePath).toBe("/project/.tenon/tenon.db");
    expect(readSettings({}, { cwd: "/project", defaultSqlitePath: ".tenon/dev.db" }).sqlitePath).toBe(
      "/project/.tenon/dev.db",
    );
    const chosen = readSettings(
      { TENON_SQLITE_PATH: "data/x.db" },
      { cwd: "/project", defaultSqlitePath: ".tenon/dev.db" },
    );
    expect(chosen.sqlitePath).toBe("/project/data/x.db");
  });

  it("reads the sandbox's port from TENON_SANDBOX_PORT (0 picks a free one), refusing anything but a port number", () => {
    expect(readSandboxPort({})).toBe(4010);
    expect(readSandboxPort({ TENON_SANDBOX_PORT: "0" })).toBe(0);
    expect(readSandboxPort({ TENON_SANDBOX_PORT: "4500" })).toBe(4500);
    for (const value of ["-1", "65536", "http", "40.5"]) {
      expect(() => readSandboxPort({ TENON_SANDBOX_PORT: value }), value).toThrow(`TENON_SANDBOX_PORT is "${value}"`);
    }
  });
});
