import { Cron } from "croner";
import { describe, expect, it } from "vitest";
import type { AlertRulesConfig } from "../../src/alerting/alert-config.ts";
import { alertFingerprint } from "../../src/alerting/alert-evaluator.ts";
import type { AlertNotification } from "../../src/alerting/notification.ts";
import type { Storage } from "../../src/storage/contract.ts";
import { testAlertEvaluator } from "../support/alerts.ts";
import { backends, useTestStorage } from "../support/backends.ts";
import { ManualClock } from "../support/clock.ts";
import { endRuns, lease } from "../support/ended-runs.ts";

const minute = 60_000;

/** Every rule off but those given: each test looks at one rule at a time. */
function only(rules: AlertRulesConfig): AlertRulesConfig {
  return {
    runDead: false,
    runFailed: false,
    errorRate: false,
    consecutiveFailures: false,
    authFailed: false,
    credentialsExpiring: false,
    circuitOpen: false,
    runsWaiting: false,
    runsPaused: false,
    quarantined: false,
    pollFailing: false,
    scheduleMissed: false,
    drift: false,
    channelFailing: false,
    ...rules,
  };
}

function evaluator(
  storage: Storage,
  clock: ManualClock,
  rules: AlertRulesConfig,
  options: Parameters<typeof testAlertEvaluator>[3] = {},
) {
  return testAlertEvaluator(storage, clock, only(rules), options);
}

describe.each(backends)("alert evaluation ($name)", (backend) => {
  const t = useTestStorage(backend);

  it("50 dead runs in a minute are one alert, told once, again after the interval, and resolved once", async () => {
    const storage = t.storage;
    await storage.migrate();
    const clock = new ManualClock();
    const t0 = clock.now();
    for (let i = 0; i < 50; i++) await endRuns(storage, "billing", "dead", 1, t0 - 60_000 + i * 1000);
    const { alerts, sent } = evaluator(storage, clock, { runDead: { window: "2h" } }, { renotifyAfterMs: 30 * minute });

    expect(await alerts.evaluateOnce()).toBe(true);
    expect(sent).toHaveLength(1);
    const first = sent[0]?.notification as AlertNotification;
    expect(first).toMatchObject({
      status: "firing",
      rule: "run_dead",
      subject: "integration:billing",
      count: 50,
      number: 1,
      severity: "critical",
      link: "https://tenon.example.com/api/runs?integration=billing&status=dead",
    });
    expect(first.summary).toBe("50 dead runs of integration billing in the last 120 minutes");
    expect(first.fingerprint).toBe(alertFingerprint("run_dead", "integration:billing"));

    // Still firing: nothing more until the re-notification interval has passed.
    clock.advance(5 * minute);
    await alerts.evaluateOnce();
    clock.advance(20 * minute);
    await alerts.evaluateOnce();
    expect(sent).toHaveLength(1);
    clock.advance(6 * minute);
    await alerts.evaluateOnce();
    expect(sent.map((s) => [s.notification.status, s.notification.number])).toEqual([
      ["firing", 1],
      ["firing", 2],
    ]);

    // The dead runs leave the 2 h window: the condition clears and the alert resolves, once.
    clock.set(t0 + 2 * 60 * minute + minute);
    await alerts.evaluateOnce();
    clock.advance(minute);
    await alerts.evaluateOnce();
    expect(sent.map((s) => [s.notification.status, s.notification.number])).toEqual([
      ["firing", 1],
      ["firing", 2],
      ["resolved", 3],
    ]);
    const resolved = sent[2]?.notification as AlertNotification;
    expect(resolved.endsAt).toBe(new Date(t0 + 2 * 60 * minute + minute).toISOString());
    expect(await storage.alerts.getAlert(first.fingerprint)).toMatchObject({
      status: "resolved",
      episode: 1,
      count: 50,
      notifications: 3,
    });

    // The same condition again later is a new episode: told again from notification 1.
    await endRuns(storage, "billing", "dead", 2, clock.now());
    await alerts.evaluateOnce();
    expect(sent.at(-1)?.notification).toMatchObject({ status: "firing", episode: 2, number: 1, count: 2 });
  });

  it("a condition must stay clear for the recovery threshold; an acknowledged alert is not told again, but its resolution is", async () => {
    const storage = t.storage;
    await storage.migrate();
    const clock = new ManualClock();
    await endRuns(storage, "crm-sync", "failed", 3, clock.now());
    const { alerts, sent } = evaluator(
      storage,
      clock,
      { runFailed: { window: "10m" } },
      { renotifyAfterMs: 5 * minute, recoverAfterMs: 10 * minute },
    );
    await alerts.evaluateOnce();
    const fingerprint = alertFingerprint("run_failed", "integration:crm-sync");
    expect(await storage.alerts.ackAlert(fingerprint, "api:alice", clock.now())).toMatchObject({
      ackedBy: "api:alice",
    });

    clock.advance(6 * minute);
    await alerts.evaluateOnce();
    expect(sent).toHaveLength(1);

    // Out of the window at +10 min: clear, but not for long enough yet.
    clock.advance(5 * minute);
    await alerts.evaluateOnce();
    expect(await storage.alerts.getAlert(fingerprint)).toMatchObject({ status: "firing", clearedSince: clock.now() });
    clock.advance(10 * minute);
    await alerts.evaluateOnce();
    expect(sent.map((s) => s.notification.status)).toEqual(["firing", "resolved"]);
    expect(await storage.alerts.ackAlert(fingerprint, "api:alice", clock.now())).toBeNull();
  });

  it("a snoozed alert is told again once the snooze is over", async () => {
    const storage = t.storage;
    await storage.migrate();
    const clock = new ManualClock();
    await endRuns(storage, "billing", "dead", 1, clock.now());
    const { alerts, sent } = evaluator(storage, clock, { runDead: { window: "1d" } }, { renotifyAfterMs: 10 * minute });
    await alerts.evaluateOnce();
    const fingerprint = alertFingerprint("run_dead", "integration:billing");
    await storage.alerts.snoozeAlert(fingerprint, clock.now() + 60 * minute);
    clock.advance(30 * minute);
    await alerts.evaluateOnce();
    expect(sent).toHaveLength(1);
    clock.advance(31 * minute);
    await alerts.evaluateOnce();
    expect(sent.map((s) => s.notification.number)).toEqual([1, 2]);
  });

  it("a crash between sending a notification and saving the alert sends the same notification again", async () => {
    const storage = t.storage;
    await storage.migrate();
    const clock = new ManualClock();
    await endRuns(storage, "billing", "dead", 1, clock.now());
    const crashing = new Proxy(storage, {
      get(target, property) {
        if (property !== "alerts") return Reflect.get(target, property);
        return new Proxy(target.alerts, {
          get(alerts, name) {
            if (name === "saveAlert") return () => Promise.reject(new Error("the process died here"));
            const value = Reflect.get(alerts, name);
            return typeof value === "function" ? value.bind(alerts) : value;
          },
        });
      },
    });
    const before = evaluator(crashing, clock, { runDead: {} });
    await expect(before.alerts.evaluateOnce()).rejects.toThrow("the process died here");
    await storage.alerts.releaseEvaluation("nobody");
    clock.advance(2 * 60 * minute);
    const after = evaluator(storage, clock, { runDead: { window: "1d" } });
    await after.alerts.evaluateOnce();
    // The same id: the engine stores it as a duplicate of the first, and no second delivery run starts.
    expect(after.sent.map((s) => s.notification.id)).toEqual(before.sent.map((s) => s.notification.id));
  });

  it("one worker evaluates at a time: another skips while the lease is held", async () => {
    const storage = t.storage;
    await storage.migrate();
    const clock = new ManualClock();
    const one = evaluator(storage, clock, { runDead: {} });
    const other = evaluator(storage, clock, { runDead: {} });
    expect(await one.alerts.evaluateOnce()).toBe(true);
    expect(await other.alerts.evaluateOnce()).toBe(false);
    clock.advance(60_000);
    expect(await other.alerts.evaluateOnce()).toBe(true);
  });

  it("error rate over a window, with a minimum count, and consecutive failures", async () => {
    const storage = t.storage;
    await storage.migrate();
    const clock = new ManualClock();
    const now = clock.now();
    await endRuns(storage, "billing", "succeeded", 6, now - 5 * minute);
    await endRuns(storage, "billing", "failed", 4, now - 2 * minute);
    await endRuns(storage, "quiet", "failed", 2, now - 2 * minute);
    const { alerts, sent } = evaluator(storage, clock, {
      errorRate: { window: "15m", threshold: 0.3, minRuns: 5 },
      consecutiveFailures: { count: 4 },
    });
    await alerts.evaluateOnce();
    const told = sent.map((s) => [s.notification.rule, s.notification.subject]).sort();
    // quiet: 2 runs are below the minimum for a rate, and fewer than 4 in a row.
    expect(told).toEqual([
      ["consecutive_failures", "integration:billing"],
      ["error_rate", "integration:billing"],
    ]);
    expect(sent.find((s) => s.notification.rule === "error_rate")?.notification.summary).toBe(
      "40% of integration billing's runs failed in the last 15 minutes (4 of 10; threshold 30%)",
    );
  });

  it("connections: credentials rejected, credentials expiring, a circuit open too long", async () => {
    const storage = t.storage;
    await storage.migrate();
    const clock = new ManualClock();
    const now = clock.now();
    await storage.connections.saveCredentials({
      connectionId: "accounting",
      sealedCredentials: "sealed",
      expiresAt: now + 2 * 24 * 60 * minute,
      restoresAccess: true,
      now,
    });
    await storage.connections.saveCredentials({
      connectionId: "crm",
      sealedCredentials: "sealed",
      expiresAt: null,
      restoresAccess: true,
      now,
    });
    // An OAuth access token that expires within the hour: Tenon refreshes it itself, so nobody is told.
    await storage.connections.saveCredentials({
      connectionId: "store",
      sealedCredentials: "sealed",
      expiresAt: now + 30 * minute,
      restoresAccess: true,
      now,
    });
    expect(await storage.connections.markAuthFailed("crm", "401 from the CRM", now)).toBe(true);
    for (let i = 0; i < 3; i++) {
      await storage.connections.recordCircuitFailure({
        connectionId: "inventory",
        threshold: 3,
        cooldownMs: minute,
        error: "503 from inventory",
        now: now - 10 * minute,
      });
    }
    const { alerts, sent } = evaluator(
      storage,
      clock,
      { authFailed: undefined, credentialsExpiring: { within: "3d" }, circuitOpen: { longerThan: "5m" } },
      { connectionIds: ["accounting", "crm", "inventory", "store"], renewedConnectionIds: ["store"] },
    );
    await alerts.evaluateOnce();
    expect(sent.map((s) => [s.notification.rule, s.notification.subject]).sort()).toEqual([
      ["auth_failed", "connection:crm"],
      ["circuit_open", "connection:inventory"],
      ["credentials_expiring", "connection:accounting"],
    ]);
    expect(sent.find((s) => s.notification.rule === "credentials_expiring")?.notification.summary).toMatch(
      /\(in 2 days\)$/,
    );
    // Credentials saved again: the auth alert resolves.
    await storage.connections.saveCredentials({
      connectionId: "crm",
      sealedCredentials: "new",
      expiresAt: null,
      restoresAccess: true,
      now,
    });
    clock.advance(minute);
    await alerts.evaluateOnce();
    expect(sent.filter((s) => s.notification.status === "resolved").map((s) => s.notification.rule)).toEqual([
      "auth_failed",
    ]);
  });

  it("runs waiting on a connection too long, quarantined events, no events from a source in its hours", async () => {
    const storage = t.storage;
    await storage.migrate();
    const clock = new ManualClock(Date.UTC(2026, 0, 5, 14, 0, 0));
    const now = clock.now();
    await storage.acceptEvents([
      {
        id: "event-waiting",
        source: "shop",
        type: "order.paid",
        dedupKey: null,
        payloadJson: "{}",
        receivedAt: now - 60 * minute,
        runs: [{ id: "waiting-run", integrationId: "billing", concurrencyKey: null, concurrencyLimit: null }],
      },
      {
        id: "event-bad",
        source: "stripe",
        type: "unknown",
        dedupKey: null,
        payloadJson: "{}",
        receivedAt: now - minute,
        quarantineReason: "the body is not JSON",
        runs: [],
      },
    ]);
    await storage.claimDueRuns({ leaseToken: lease, limit: 1, now: now - 50 * minute, leaseUntil: now });
    await storage.applyTransitions([
      {
        kind: "waitRun",
        runId: "waiting-run",
        leaseToken: lease,
        connectionId: "accounting",
        availableAt: now + 60 * minute,
        reason: "circuit open",
        now: now - 45 * minute,
      },
    ]);
    const { alerts, sent } = evaluator(storage, clock, {
      runsWaiting: { longerThan: "30m" },
      quarantined: { window: "15m" },
      noEvents: {
        shop: { period: "30m", between: ["09:00", "21:00"] },
        night: { period: "1h", between: ["22:00", "06:00"] },
      },
    });
    await alerts.evaluateOnce();
    expect(sent.map((s) => [s.notification.rule, s.notification.subject]).sort()).toEqual([
      ["no_events", "source:shop"],
      ["quarantined", "source:stripe"],
      ["runs_waiting", "integration:billing/connection:accounting"],
    ]);
    expect(sent.find((s) => s.notification.rule === "runs_waiting")?.notification.summary).toBe(
      "1 run of integration billing has been waiting on connection accounting for more than 30 minutes (the longest for 45 minutes)",
    );
  });

  it("a poll source failing several times in a row, and one no worker has polled since it was due", async () => {
    const storage = t.storage;
    await storage.migrate();
    const clock = new ManualClock();
    const now = clock.now();
    for (let i = 0; i < 3; i++) {
      const claim = await storage.claimPoll({
        pollId: "inventory",
        owner: "w1",
        now: now - 3 * minute + i,
        leaseUntil: now,
      });
      expect(claim).not.toBeNull();
      await storage.failPoll({
        pollId: "inventory",
        owner: "w1",
        now: now - 3 * minute + i,
        error: "502 from inventory",
        nextPollAt: now - 3 * minute,
      });
    }
    expect(
      await storage.claimPoll({ pollId: "orders", owner: "w1", now: now - 60 * minute, leaseUntil: now - 59 * minute }),
    ).not.toBeNull();
    await storage.commitPoll({
      pollId: "orders",
      owner: "w1",
      now: now - 60 * minute,
      cursor: "c1",
      events: [],
      nextPollAt: now - 30 * minute,
      keepLease: false,
      leaseUntil: now - 59 * minute,
    });
    // First polled 20 minutes ago: one poll still running under its lease (not late), one whose worker vanished
    // mid-poll (late, counted from that first poll, not from the epoch).
    expect(
      await storage.claimPoll({ pollId: "slow", owner: "w1", now: now - 20 * minute, leaseUntil: now + 5 * minute }),
    ).not.toBeNull();
    expect(
      await storage.claimPoll({ pollId: "gone", owner: "w2", now: now - 20 * minute, leaseUntil: now - 19 * minute }),
    ).not.toBeNull();
    const { alerts, sent } = evaluator(
      storage,
      clock,
      { pollFailing: { failures: 3, lateBy: "10m" } },
      { pollIds: ["inventory", "orders", "slow", "gone"] },
    );
    await alerts.evaluateOnce();
    expect(sent.map((s) => [s.notification.subject, s.notification.summary]).sort()).toEqual([
      ["poll:gone", "poll gone is 20 minutes late: no worker has polled it since it was due"],
      ["poll:inventory", "poll inventory failed 3 times in a row: 502 from inventory"],
      ["poll:orders", "poll orders is 30 minutes late: no worker has polled it since it was due"],
    ]);
  });

  it("a schedule tick overdue past the grace period that no worker fired", async () => {
    const storage = t.storage;
    await storage.migrate();
    const clock = new ManualClock(Date.UTC(2026, 0, 5, 12, 0, 30));
    const lastTick = Date.UTC(2026, 0, 5, 12, 0, 0);
    const tick = {
      id: "tick-1",
      source: "schedule",
      type: "nightly",
      dedupKey: "nightly@2026-01-05T12:00:00.000Z",
      payloadJson: "{}",
      receivedAt: lastTick,
      runs: [],
    };
    expect(await storage.fireScheduleTick("nightly", lastTick, tick)).toBe(true);
    const everyMinute = new Cron("* * * * *", { paused: true, timezone: "UTC" });
    const { alerts, sent } = evaluator(
      storage,
      clock,
      { scheduleMissed: { grace: "5m" } },
      { schedules: [{ integrationId: "nightly", cron: everyMinute }] },
    );
    // 12:04:30: the 12:01 tick is 3.5 minutes overdue, within the grace period.
    clock.set(Date.UTC(2026, 0, 5, 12, 4, 30));
    await alerts.evaluateOnce();
    expect(sent).toHaveLength(0);
    clock.set(Date.UTC(2026, 0, 5, 12, 6, 30));
    await alerts.evaluateOnce();
    expect(sent.map((s) => s.notification.summary)).toEqual([
      "schedule nightly missed its tick of 2026-01-05T12:01:00.000Z (last fired 2026-01-05T12:00:00.000Z): is any worker running?",
    ]);
  });

  it("breaking drift is one alert per changed field, none for non-breaking drift; accepting the shape resolves it", async () => {
    const storage = t.storage;
    await storage.migrate();
    const clock = new ManualClock();
    const now = clock.now();
    const key = {
      kind: "connection" as const,
      subject: "accounting",
      method: "POST",
      routeTemplate: "/v3/company/{realmId}/invoice",
      status: 200,
      eventType: null,
    };
    expect(
      await storage.drift.saveShapes([
        { id: "shape-1", ...key, generation: 1, baseline: { samples: 20, paths: {} }, updatedAt: now },
      ]),
    ).toEqual([]);
    const incident = { ...key, shapeId: "shape-1", seenCount: 3, at: now - minute };
    await storage.drift.recordIncidents([
      { ...incident, id: "drift-1", fieldPath: "Invoice.DocNumber", change: "removed", breaking: true, example: null },
      {
        ...incident,
        id: "drift-2",
        fieldPath: "Invoice.DocNo",
        change: "added",
        breaking: false,
        example: "string (6 chars)",
      },
    ]);
    const { alerts, sent } = evaluator(storage, clock, { drift: undefined });
    await alerts.evaluateOnce();
    expect(sent).toHaveLength(1);
    expect(sent[0]?.notification).toMatchObject({
      rule: "drift",
      severity: "critical",
      labels: {
        connection: "accounting",
        field: "Invoice.DocNumber",
        change: "removed",
        route: "POST /v3/company/{realmId}/invoice",
      },
    });
    expect(sent[0]?.notification.summary).toContain(
      "breaking API drift at connection accounting, POST /v3/company/{realmId}/invoice (200): field Invoice.DocNumber removed",
    );
    const [open] = await storage.drift.listIncidents({ open: true, breaking: true });
    await storage.drift.acceptShape({ incidentId: open?.id as string, acceptedBy: "cli:bob", at: now });
    clock.advance(minute);
    await alerts.evaluateOnce();
    expect(sent.map((s) => s.notification.status)).toEqual(["firing", "resolved"]);
  });

  it("an alert channel whose deliveries fail is told through the other channels, not through itself", async () => {
    const storage = t.storage;
    await storage.migrate();
    const clock = new ManualClock();
    const now = clock.now();
    await storage.acceptEvents([
      {
        id: "notification-1.ops",
        source: "tenon-alerts",
        type: "tenon-alerts.ops",
        dedupKey: "n1",
        payloadJson: "{}",
        receivedAt: now - minute,
        runs: [{ id: "delivery-1", integrationId: "tenon-alerts.ops", concurrencyKey: null, concurrencyLimit: null }],
      },
    ]);
    await storage.claimDueRuns({ leaseToken: lease, limit: 1, now: now - minute, leaseUntil: now });
    await storage.applyTransitions([
      {
        kind: "retryRun",
        runId: "delivery-1",
        leaseToken: lease,
        availableAt: now + minute,
        error: 'step "send": 503 from hooks.example.com',
        stepFailure: { name: "send", error: "503" },
        attempt: 1,
        attemptStartedAt: now - minute,
        now: now - 30_000,
      },
    ]);
    const { alerts, sent } = evaluator(storage, clock, { channelFailing: undefined }, { channels: ["ops", "oncall"] });
    await alerts.evaluateOnce();
    expect(sent.map((s) => [s.channel, s.notification.rule, s.notification.subject])).toEqual([
      ["oncall", "channel_failing", "channel:ops"],
    ]);
  });
});
