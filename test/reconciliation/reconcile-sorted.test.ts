import { describe, expect, it } from "vitest";
import { defineReconciliation } from "../../src/sdk/define-reconciliation.ts";
import { RetryableError } from "../../src/sdk/errors.ts";
import { normalizers } from "../../src/sdk/reconcile-normalizers.ts";
import type { Storage } from "../../src/storage/contract.ts";
import { backends, useTestStorage } from "../support/backends.ts";
import { pagedList, startReconcileEngine } from "../support/reconciliation.ts";

interface Order {
  key: string;
  total: string;
}
interface Invoice {
  docNumber: string;
  amount: number;
  kind?: "credit";
}

/** 40 orders and their invoices, both in key order; S-3 and S-17 missing, S-900 has no order, S-5 differs. */
function ordersAndInvoices(key: (n: number) => string) {
  const orders: Order[] = [];
  const invoices: Invoice[] = [];
  for (let n = 1; n <= 40; n += 1) {
    orders.push({ key: key(n), total: `${n}.50` });
    if (n === 3 || n === 17) continue;
    invoices.push({ docNumber: `S-${key(n)}`, amount: n === 5 ? 99 : n === 20 ? 30.5 : n + 0.5 });
    // S-20: invoiced 30.50, then credited 10: 20.50, as its order says.
    if (n === 20) invoices.push({ docNumber: `S-${key(n)}`, amount: 10, kind: "credit" });
  }
  invoices.push({ docNumber: `S-${key(900)}`, amount: 9 });
  return { orders, invoices };
}

function ordersVsInvoices(
  id: string,
  data: { orders: Order[]; invoices: Invoice[] },
  options: { sorted: boolean; failOnce?: string },
) {
  const left = pagedList(() => data.orders, 7);
  const right = pagedList(() => data.invoices, 5);
  let failed = false;
  const reconciliation = defineReconciliation<Order, Invoice>({
    id,
    left: {
      async list(context) {
        if (context.cursor === options.failOnce && !failed) {
          failed = true;
          left.calls.push("interrupted");
          throw new RetryableError("connection reset while listing", { retryAfterMs: 0 });
        }
        return left.list(context);
      },
      sorted: options.sorted,
    },
    right: { list: right.list, sorted: options.sorted },
    match: { left: (order) => order.key, right: (invoice) => invoice.docNumber.slice(2) },
    compare: {
      total: {
        left: (order) => order.total,
        right: (invoice) => (invoice.kind === "credit" ? -invoice.amount : invoice.amount),
        normalize: normalizers.money({ currency: "USD" }),
        combine: "sum",
      },
    },
  });
  return { reconciliation, left, right };
}

async function verdicts(storage: Storage, runId: string) {
  const findings = await storage.reconcile.listReportFindings(runId, { limit: 100 });
  return findings.map((f) => [f.type, f.key, f.field, f.leftJson, f.rightJson]);
}

async function stepNames(storage: Storage, runId: string) {
  return (await storage.listSteps(runId)).map((step) => step.name.replace(/#\d+$/, ""));
}

const padded = (n: number) => String(n).padStart(4, "0");

describe.each(backends)("reconciliation with sorted listers on $name", (backend) => {
  const t = useTestStorage(backend);

  it("merges two sorted sides as they stream, storing only the findings, with the verdicts a merge through storage reaches", async () => {
    const streamed = ordersVsInvoices("streamed", ordersAndInvoices(padded), { sorted: true });
    const stored = ordersVsInvoices("stored", ordersAndInvoices(padded), { sorted: false });
    const reconcile = await startReconcileEngine(t.storage, [streamed.reconciliation, stored.reconciliation]);
    try {
      const report = await reconcile.run("streamed");
      const reference = await reconcile.run("stored");
      expect(report).toMatchObject({ merge: "streamed", mergeNote: null, pass: "full" });
      expect(reference).toMatchObject({ merge: "spilled" });
      expect(report.counts).toEqual({
        leftRecords: 40,
        rightRecords: 40,
        matched: 37,
        missingLeft: 1,
        missingRight: 2,
        mismatched: 1,
        mismatchedByField: { total: 1 },
        newFindings: 4,
        resolvedFindings: 0,
      });
      expect(report.counts).toEqual(reference.counts);
      expect(await verdicts(t.storage, report.runId)).toEqual(await verdicts(t.storage, reference.runId));
      // A step per page listed, and nothing stored of the records: no listing steps that spill.
      expect(new Set(await stepNames(t.storage, report.runId))).toEqual(
        new Set(["begin", "merge", "settle", "complete"]),
      );
      expect((await stepNames(t.storage, report.runId)).filter((name) => name === "merge")).toHaveLength(6 + 8);
      expect(streamed.left.calls.filter((cursor) => cursor === null)).toHaveLength(1);
    } finally {
      await reconcile.stop();
    }
  });

  it("carries on after an interruption by listing again only the pages still holding records it had not merged", async () => {
    const { reconciliation, left } = ordersVsInvoices("streamed", ordersAndInvoices(padded), {
      sorted: true,
      failOnce: "21",
    });
    const reconcile = await startReconcileEngine(t.storage, [reconciliation]);
    try {
      const report = await reconcile.run("streamed");
      expect(report.merge).toBe("streamed");
      expect(report.counts).toMatchObject({ matched: 37, missingLeft: 1, missingRight: 2, mismatched: 1 });
      // Listed once before the interruption, the first two pages were merged through and never listed again;
      // the third still held unmerged orders, so the retried run listed it again before going on.
      expect(left.calls).toEqual([null, "7", "14", "interrupted", "14", "21", "28", "35"]);
    } finally {
      await reconcile.stop();
    }
  });

  it("a sorted lister whose keys come out of order is merged through storage instead, with the reason in the report", async () => {
    // Numbers sorted as numbers are not sorted as text: "10" comes before "9".
    const { reconciliation } = ordersVsInvoices("numbers", ordersAndInvoices(String), { sorted: true });
    const reconcile = await startReconcileEngine(t.storage, [reconciliation]);
    try {
      const report = await reconcile.run("numbers");
      expect(report.merge).toBe("spilled");
      expect(report.mergeNote).toBe(
        'merged through storage: right.list is declared sorted, but the right record 4 of page 2 has the key "10" after "9" (keys must ascend in byte order of their UTF-8 text)',
      );
      expect(report.counts).toMatchObject({
        leftRecords: 40,
        rightRecords: 40,
        matched: 37,
        missingLeft: 1,
        missingRight: 2,
        mismatched: 1,
      });
      const steps = await stepNames(t.storage, report.runId);
      expect(steps.filter((name) => name === "list-left")).toHaveLength(6);
    } finally {
      await reconcile.stop();
    }
  });
});
