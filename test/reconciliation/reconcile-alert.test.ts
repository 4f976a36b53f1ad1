import { describe, expect, it } from "vitest";
import { defineIntegration } from "../../src/sdk/define-integration.ts";
import { defineReconciliation } from "../../src/sdk/define-reconciliation.ts";
import { testAlertEvaluator } from "../support/alerts.ts";
import { backends, useTestStorage } from "../support/backends.ts";
import { ManualClock } from "../support/clock.ts";
import { pagedList, startReconcileEngine } from "../support/reconciliation.ts";
import { waitFor } from "../support/wait.ts";

/** Every other rule off: only what reconciliation raises is told. */
const onlyReconciliation = {
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
} as const;

describe.each(backends)("the reconciliation findings alert on $name", (backend) => {
  const t = useTestStorage(backend);

  it("fires once for a reconciliation's new findings, stays quiet while they persist, and resolves when none is open", async () => {
    const clock = new ManualClock(Date.now());
    const orders = [1, 2, 3, 4, 5];
    let invoices = [1, 2, 3];
    const reconciliation = defineReconciliation<number, number>({
      id: "orders-vs-invoices",
      left: pagedList(() => orders, 2),
      right: pagedList(() => invoices, 2),
      match: { left: (n) => n, right: (n) => n },
    });
    const reconcile = await startReconcileEngine(t.storage, [reconciliation], { clock });
    const { alerts, sent } = testAlertEvaluator(t.storage, clock, onlyReconciliation);
    try {
      await alerts.evaluateOnce();
      expect(sent).toEqual([]);

      await reconcile.run("orders-vs-invoices");
      await alerts.evaluateOnce();
      expect(sent.map((s) => [s.notification.status, s.notification.rule, s.notification.subject])).toEqual([
        ["firing", "reconciliation_findings", "reconciliation:orders-vs-invoices"],
      ]);
      expect(sent[0]?.notification.summary).toContain("2 open findings");

      clock.advance(60_000);
      await reconcile.run("orders-vs-invoices");
      await alerts.evaluateOnce();
      expect(sent).toHaveLength(1);

      clock.advance(60_000);
      invoices = [1, 2, 3, 4, 5];
      await reconcile.run("orders-vs-invoices");
      await alerts.evaluateOnce();
      expect(sent.map((s) => s.notification.status)).toEqual(["firing", "resolved"]);
    } finally {
      await reconcile.stop();
    }
  });

  it("raises one alert for new findings, and resolves it once their repairs have made the systems agree", async () => {
    const clock = new ManualClock(Date.now());
    const orders = [1, 2, 3, 4, 5, 6];
    const invoices = [1, 2, 3, 4];
    const reconciliation = defineReconciliation<number, number>({
      id: "orders-vs-invoices",
      left: pagedList(() => orders, 2),
      right: pagedList(() => invoices, 2),
      match: { left: (n) => n, right: (n) => n },
      repair: {
        mode: "auto",
        missing_right: { emit: (finding) => ({ type: "invoice.missing", payload: { order: Number(finding.key) } }) },
      },
    });
    // What the repair's event starts: the integration that makes the missing invoice.
    const invoicer = defineIntegration<{ order: number }>({
      id: "invoicer",
      trigger: { event: "invoice.missing" },
      run: ({ event }) => {
        invoices.push(event.payload.order);
      },
    });
    const reconcile = await startReconcileEngine(t.storage, [reconciliation], { clock, integrations: [invoicer] });
    const { alerts, sent } = testAlertEvaluator(t.storage, clock, onlyReconciliation);
    try {
      const found = await reconcile.run("orders-vs-invoices");
      expect(found.counts).toMatchObject({ missingRight: 2, newFindings: 2, repairsRequested: 2 });
      await alerts.evaluateOnce();
      await alerts.evaluateOnce();
      expect(sent.map((s) => [s.notification.status, s.notification.subject])).toEqual([
        ["firing", "reconciliation:orders-vs-invoices"],
      ]);
      expect(sent[0]?.notification.summary).toContain("2 open findings");

      await waitFor("both repairs to make their invoice", () => invoices.length === 6);
      clock.advance(60_000);
      const repaired = await reconcile.run("orders-vs-invoices");
      expect(repaired.counts).toMatchObject({ missingRight: 0, resolvedFindings: 2, repairsRequested: 0 });
      await alerts.evaluateOnce();
      expect(sent.map((s) => s.notification.status)).toEqual(["firing", "resolved"]);
      expect(invoices.sort()).toEqual([1, 2, 3, 4, 5, 6]);
    } finally {
      await reconcile.stop();
    }
  });
});
