import { describe, expect, it } from "vitest";
import { defineIntegration } from "../../src/sdk/define-integration.ts";
import { defineReconciliation } from "../../src/sdk/define-reconciliation.ts";
import { NonRetryableError, RetryableError } from "../../src/sdk/errors.ts";
import { normalizers } from "../../src/sdk/reconcile-normalizers.ts";
import { backends, useTestStorage } from "../support/backends.ts";
import { ManualClock } from "../support/clock.ts";
import { waitForRunStatus } from "../support/engine.ts";
import { pagedList, startReconcileEngine } from "../support/reconciliation.ts";
import { waitFor } from "../support/wait.ts";

interface Order {
  number: number;
  total: string;
  email: string;
}
interface Invoice {
  id: string;
  docNumber: string;
  amount: number;
  email: string;
  kind?: "invoice" | "credit";
}

function ordersAndInvoices(count: number) {
  const orders: Order[] = [];
  const invoices: Invoice[] = [];
  for (let n = 1; n <= count; n += 1) {
    orders.push({ number: n, total: `${n}.50`, email: `buyer${n}@example.com` });
    invoices.push({ id: `inv-${n}`, docNumber: `S-${n}`, amount: n + 0.5, email: ` Buyer${n}@Example.com` });
  }
  return { orders, invoices };
}

function storeVsBooks(
  data: { orders: Order[]; invoices: Invoice[] },
  pageSize = 7,
  extra: Record<string, unknown> = {},
) {
  const left = pagedList(() => data.orders, pageSize);
  const right = pagedList(() => data.invoices, pageSize);
  const reconciliation = defineReconciliation<Order, Invoice>({
    id: "orders-vs-invoices",
    left: { list: left.list, show: (order) => ({ number: order.number }) },
    right: { list: right.list, show: (invoice) => ({ id: invoice.id, token: "tok_secret_value" }) },
    match: {
      left: (order) => order.number,
      right: (invoice) => (invoice.docNumber.startsWith("S-") ? invoice.docNumber.slice(2) : null),
    },
    compare: {
      total: {
        left: (order) => order.total,
        right: (invoice) => (invoice.kind === "credit" ? -invoice.amount : invoice.amount),
        normalize: normalizers.money({ currency: "USD" }),
        combine: "sum",
      },
      email: {
        left: (order) => order.email,
        right: (invoice) => invoice.email,
        normalize: [normalizers.whitespace(), normalizers.caseInsensitive()],
      },
    },
    ...extra,
  });
  return { reconciliation, left, right };
}

describe.each(backends)("reconciliation runs on $name", (backend) => {
  const t = useTestStorage(backend);

  it("reports what is missing on each side and what differs, by field, summing an invoice with its credit notes", async () => {
    const data = ordersAndInvoices(40);
    data.invoices = data.invoices.filter((invoice) => !["S-3", "S-17"].includes(invoice.docNumber));
    data.invoices.push({ id: "inv-x", docNumber: "S-900", amount: 9, email: "stray@example.com" });
    data.invoices.push({ id: "inv-appt", docNumber: "A-1", amount: 9, email: "appointment@example.com" });
    const invoice = (docNumber: string) => data.invoices.find((i) => i.docNumber === docNumber) as Invoice;
    invoice("S-5").amount = 999; // total differs
    invoice("S-10").email = "someone.else@example.com"; // email differs
    // S-20 was invoiced 30.50 then credited 10 on a credit note: 20.50, and its order says 20.50.
    invoice("S-20").amount = 30.5;
    data.invoices.push({ id: "cn-20", docNumber: "S-20", amount: 10, email: "buyer20@example.com", kind: "credit" });
    const { reconciliation } = storeVsBooks(data);
    const reconcile = await startReconcileEngine(t.storage, [reconciliation]);
    try {
      const report = await reconcile.run("orders-vs-invoices");
      expect(report).toMatchObject({ number: 1, dryRun: false, status: "complete" });
      expect(report.counts).toEqual({
        leftRecords: 40,
        rightRecords: 41,
        unkeyedRecords: 1,
        matched: 36,
        missingLeft: 1,
        missingRight: 2,
        mismatched: 2,
        mismatchedByField: { total: 1, email: 1 },
        newFindings: 5,
        resolvedFindings: 0,
      });
      const findings = await t.storage.reconcile.listReportFindings(report.runId, { limit: 100 });
      expect(findings.map((f) => [f.type, f.key, f.field])).toEqual([
        ["mismatch", "10", "email"],
        ["missing_right", "17", null],
        ["missing_right", "3", null],
        ["mismatch", "5", "total"],
        ["missing_left", "900", null],
      ]);
      const total = findings.find((f) => f.field === "total");
      expect(JSON.parse(total?.leftJson ?? "null")).toEqual({
        records: [{ fields: { total: 550, email: "buyer5@example.com" }, shown: { number: 5 } }],
        value: 550,
      });
      expect(JSON.parse(total?.rightJson ?? "null")).toMatchObject({ value: 99900 });
      // What `show` picked is stored redacted: a field named like a secret never reaches the database.
      expect(total?.rightJson).not.toContain("tok_secret_value");
      expect(total?.rightJson).toContain("[REDACTED]");
      // The spilled records are a temporary table: gone once the report is complete.
      expect(
        await t.storage.reconcile.readSpilled({ runId: report.runId, side: "left", after: null, limit: 10 }),
      ).toEqual([]);
    } finally {
      await reconcile.stop();
    }
  });

  it("keeps a finding's identity across runs: first seen stays, it resolves when fixed, and coming back opens its next occurrence", async () => {
    const clock = new ManualClock();
    const data = ordersAndInvoices(10);
    const removed = data.invoices.splice(2, 1)[0] as Invoice; // S-3
    const { reconciliation } = storeVsBooks(data);
    const reconcile = await startReconcileEngine(t.storage, [reconciliation], { clock });
    try {
      const first = await reconcile.run("orders-vs-invoices");
      const [finding] = await t.storage.reconcile.listOpenFindings({
        reconciliationId: "orders-vs-invoices",
        limit: 10,
      });
      expect(finding).toMatchObject({ type: "missing_right", key: "3", firstSeenAt: first.startedAt, occurrence: 1 });

      clock.advance(60_000);
      const second = await reconcile.run("orders-vs-invoices");
      expect(second.counts).toMatchObject({ missingRight: 1, newFindings: 0, resolvedFindings: 0 });
      const [again] = await t.storage.reconcile.getFindings([finding?.id as string]);
      expect(again).toMatchObject({ firstSeenAt: first.startedAt, lastSeenAt: second.startedAt, resolvedAt: null });

      clock.advance(60_000);
      data.invoices.push(removed);
      const third = await reconcile.run("orders-vs-invoices");
      expect(third.counts).toMatchObject({ missingRight: 0, matched: 10, newFindings: 0, resolvedFindings: 1 });
      expect((await t.storage.reconcile.getFindings([finding?.id as string]))[0]?.resolvedAt).toBe(third.startedAt);
      expect(await t.storage.reconcile.countOpenFindings()).toEqual([]);

      clock.advance(60_000);
      data.invoices.splice(data.invoices.indexOf(removed), 1);
      const fourth = await reconcile.run("orders-vs-invoices");
      expect(fourth.counts).toMatchObject({ missingRight: 1, newFindings: 1 });
      expect((await t.storage.reconcile.getFindings([finding?.id as string]))[0]).toMatchObject({
        firstSeenAt: fourth.startedAt,
        resolvedAt: null,
        occurrence: 2,
      });
      expect(fourth.number).toBe(4);
    } finally {
      await reconcile.stop();
    }
  });

  it("an interrupted listing resumes at the page after the last one stored, not from the first page", async () => {
    const data = ordersAndInvoices(50);
    const { reconciliation, left } = storeVsBooks(data, 10);
    let failures = 0;
    const { mode: _mode, ...definition } = reconciliation;
    const flaky = defineReconciliation({
      ...definition,
      left: {
        ...definition.left,
        async list(context) {
          // The process stops on the fourth page, once: the run is retried from its journal.
          if (context.cursor === "30" && failures === 0) {
            failures += 1;
            left.calls.push("interrupted");
            throw new RetryableError("connection reset while listing", { retryAfterMs: 0 });
          }
          return definition.left.list(context);
        },
      },
    });
    const reconcile = await startReconcileEngine(t.storage, [flaky]);
    try {
      const report = await reconcile.run("orders-vs-invoices");
      expect(left.calls).toEqual([null, "10", "20", "interrupted", "30", "40"]);
      expect(report.counts).toMatchObject({ leftRecords: 50, rightRecords: 50, matched: 50, missingRight: 0 });
      const steps = (await t.storage.listSteps(report.runId)).map((step) => step.name);
      expect(steps.filter((name) => name.startsWith("list-left"))).toHaveLength(5);
    } finally {
      await reconcile.stop();
    }
  });

  it("a run that ended without its report leaves no records behind once the next one begins, and cannot be replayed into a wrong report", async () => {
    const data = ordersAndInvoices(30);
    const { reconciliation } = storeVsBooks(data, 10);
    const { mode: _mode, ...definition } = reconciliation;
    let broken = true;
    const failing = defineReconciliation({
      ...definition,
      right: {
        ...definition.right,
        async list(context) {
          if (broken) throw new NonRetryableError("the accounting API answered 400: invalid query");
          return definition.right.list(context);
        },
      },
    });
    const reconcile = await startReconcileEngine(t.storage, [failing]);
    try {
      await expect(reconcile.run("orders-vs-invoices")).rejects.toThrow(/ended failed/);
      const [failed] = await t.storage.reconcile.listReports("orders-vs-invoices", 10);
      expect(failed?.status).toBe("running");
      expect(await t.storage.reconcile.countSpilled(failed?.runId as string, "left")).toBe(30);

      broken = false;
      const next = await reconcile.run("orders-vs-invoices");
      expect(next.counts).toMatchObject({ matched: 30 });
      expect((await t.storage.reconcile.getReport("orders-vs-invoices", 1))?.status).toBe("abandoned");
      expect(await t.storage.reconcile.countSpilled(failed?.runId as string, "left")).toBe(0);

      await reconcile.engine.replay(failed?.runId as string);
      const replayed = await waitForRunStatus(t.storage, failed?.runId as string, ["failed", "succeeded"]);
      expect(replayed.status).toBe("failed");
      expect(replayed.lastError).toContain("this run's left records are no longer stored (0 of 30");
    } finally {
      await reconcile.stop();
    }
  });

  it("a compared field that cannot be read fails the run at once, naming the function, the side, the record and its page", async () => {
    const data = ordersAndInvoices(12);
    const { reconciliation } = storeVsBooks(data, 5);
    const { mode: _mode, ...definition } = reconciliation;
    const compare = definition.compare as NonNullable<typeof definition.compare>;
    const broken = defineReconciliation({
      ...definition,
      compare: {
        ...compare,
        total: {
          ...compare.total,
          right: (invoice: Invoice) => {
            if (invoice.docNumber === "S-8") throw new Error("amount is not a number");
            return invoice.amount;
          },
        },
      },
    } as typeof definition);
    const reconcile = await startReconcileEngine(t.storage, [broken]);
    try {
      await expect(reconcile.run("orders-vs-invoices")).rejects.toThrow(
        'ended failed: step "list-right#2": NonRetryableError: reconciliation "orders-vs-invoices": compare.total.right failed on the right record 3 of page 2: amount is not a number',
      );
    } finally {
      await reconcile.stop();
    }
  });

  it("runs on its schedule, once per tick, as a run started on demand does", async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 1, 12, 0, 30));
    const data = ordersAndInvoices(12);
    data.invoices.pop();
    const { reconciliation } = storeVsBooks(data, 5);
    const { mode: _mode, ...definition } = reconciliation;
    const hourly = defineReconciliation({ ...definition, schedule: "0 * * * *" });
    const reconcile = await startReconcileEngine(t.storage, [hourly], { clock });
    try {
      clock.advance(60 * 60_000);
      expect(await reconcile.engine.fireDueSchedules()).toBe(1);
      expect(await reconcile.engine.fireDueSchedules()).toBe(0);
      const report = await waitFor("the scheduled run's report", async () => {
        const latest = await t.storage.reconcile.getReport("orders-vs-invoices", "latest");
        return latest?.status === "complete" ? latest : undefined;
      });
      expect(report.counts).toMatchObject({ leftRecords: 12, matched: 11, missingRight: 1 });
      const runs = await t.storage.listRuns({});
      expect(runs.map((run) => run.integrationId).sort()).toEqual([
        "tenon-reconcile-schedule.orders-vs-invoices",
        "tenon-reconcile.orders-vs-invoices",
      ]);
    } finally {
      await reconcile.stop();
    }
  });

  it("a dry run reports what it would repair, and neither settles findings nor starts a repair", async () => {
    const data = ordersAndInvoices(12);
    data.invoices.splice(0, 2);
    const emitted: unknown[] = [];
    const { reconciliation } = storeVsBooks(data, 5, {
      repair: {
        mode: "auto",
        missing_right: {
          emit: (finding: { key: string }) => ({ type: "order.replayed", payload: { number: finding.key } }),
        },
      },
    });
    const listener = defineIntegration<{ number: string }>({
      id: "reinvoice",
      trigger: { event: "order.replayed" },
      run: ({ event }) => {
        emitted.push(event.payload.number);
      },
    });
    const reconcile = await startReconcileEngine(t.storage, [reconciliation], { integrations: [listener] });
    try {
      const report = await reconcile.run("orders-vs-invoices", { dryRun: true });
      expect(report.dryRun).toBe(true);
      expect(report.counts).toMatchObject({ missingRight: 2, repairsRequested: 2 });
      expect(report.counts).not.toHaveProperty("newFindings");
      expect(await t.storage.reconcile.countOpenFindings()).toEqual([]);
      expect(await t.storage.countRunsByStatus()).toEqual({ succeeded: 1 });
      expect(emitted).toEqual([]);
    } finally {
      await reconcile.stop();
    }
  });

  it("auto mode repairs each finding once per occurrence, however many runs see it", async () => {
    const data = ordersAndInvoices(12);
    const missing = data.invoices.splice(0, 2);
    const emitted: string[] = [];
    const { reconciliation } = storeVsBooks(data, 5, {
      repair: {
        mode: "auto",
        missing_right: {
          emit: (finding: { key: string; left: { records: { shown: { number: number } }[] } }) => ({
            type: "order.replayed",
            payload: { number: finding.left.records[0]?.shown.number },
          }),
        },
      },
    });
    const listener = defineIntegration<{ number: number }>({
      id: "reinvoice",
      trigger: { event: "order.replayed" },
      run: ({ event }) => {
        emitted.push(String(event.payload.number));
      },
    });
    const reconcile = await startReconcileEngine(t.storage, [reconciliation], { integrations: [listener] });
    try {
      const first = await reconcile.run("orders-vs-invoices");
      expect(first.counts).toMatchObject({ missingRight: 2, repairsRequested: 2 });
      await waitFor("both repairs to be made", () => emitted.length === 2);
      // The repairs have not taken effect yet (the invoices are still missing): no second repair.
      const second = await reconcile.run("orders-vs-invoices");
      expect(second.counts).toMatchObject({ missingRight: 2, repairsRequested: 0 });
      data.invoices.push(...missing);
      const third = await reconcile.run("orders-vs-invoices");
      expect(third.counts).toMatchObject({ missingRight: 0, resolvedFindings: 2 });
      expect(emitted.sort()).toEqual(["1", "2"]);
      const runs = await t.storage.countRunsByStatus();
      expect(runs).toEqual({ succeeded: 3 + 2 + 2 });
    } finally {
      await reconcile.stop();
    }
  });
});
