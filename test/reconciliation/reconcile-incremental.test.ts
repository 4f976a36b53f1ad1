import { describe, expect, it } from "vitest";
import { defineReconciliation } from "../../src/sdk/define-reconciliation.ts";
import { backends, useTestStorage } from "../support/backends.ts";
import { ManualClock } from "../support/clock.ts";
import { pagedList, startReconcileEngine } from "../support/reconciliation.ts";

interface Order {
  id: number;
  number: number;
  email: string;
  changedAt: number;
}
interface Invoice {
  id: string;
  docNumber: string;
  email: string;
  changedAt: number;
}

const id = "orders-vs-invoices";

describe.each(backends)("incremental reconciliation on $name", (backend) => {
  const t = useTestStorage(backend);

  it("lists only what changed since the last run, judges it against the records earlier passes kept, leaves unjudged findings open, and sees deletions in its periodic full pass", async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 5, 9, 0, 0));
    const longAgo = clock.now() - 86_400_000;
    const orders: Order[] = [];
    const invoices: Invoice[] = [];
    for (let n = 1; n <= 20; n += 1) {
      orders.push({ id: 100 + n, number: n, email: `buyer${n}@example.com`, changedAt: longAgo });
      if (n !== 3)
        invoices.push({ id: `inv-${n}`, docNumber: `S-${n}`, email: `buyer${n}@example.com`, changedAt: longAgo });
    }
    const invoice = (docNumber: string) => invoices.find((i) => i.docNumber === docNumber) as Invoice;
    const order = (number: number) => orders.find((o) => o.number === number) as Order;
    invoice("S-5").email = "someone.else@example.com";
    invoice("S-9").email = "someone.else@example.com";
    const left = pagedList(() => orders, 4, { changedAt: (o) => o.changedAt });
    const right = pagedList(() => invoices, 4, { changedAt: (i) => i.changedAt });
    const reconciliation = defineReconciliation<Order, Invoice>({
      id,
      left: { list: left.list, id: (o) => o.id, show: (o) => ({ id: o.id }) },
      right: { list: right.list, id: (i) => i.id, show: (i) => ({ id: i.id }) },
      match: {
        left: (o) => o.number,
        right: (i) => (i.docNumber.startsWith("S-") ? i.docNumber.slice(2) : null),
      },
      compare: { email: { left: (o) => o.email, right: (i) => i.email } },
      incremental: { fullEvery: "1h" },
    });
    const reconcile = await startReconcileEngine(t.storage, [reconciliation], { clock });
    const open = async () =>
      (await t.storage.reconcile.listOpenFindings({ reconciliationId: id, limit: 100 })).map(
        (f) => `${f.type} ${f.key}${f.field ? ` ${f.field}` : ""}`,
      );
    const sinceAsked = () =>
      new Set([...left.since.splice(0), ...right.since.splice(0)].map((d) => d?.getTime() ?? null));
    try {
      const first = await reconcile.run(id);
      expect(first).toMatchObject({ pass: "full", since: null, merge: "spilled" });
      expect(first.counts).toMatchObject({
        leftRecords: 20,
        rightRecords: 19,
        matched: 17,
        missingRight: 1,
        mismatched: 2,
      });
      expect(sinceAsked()).toEqual(new Set([null]));
      expect(await open()).toEqual(["missing_right 3", "mismatch 5 email", "mismatch 9 email"]);

      clock.advance(10 * 60_000);
      const now = clock.now();
      // Order 21's webhook was lost (no invoice); order 22 was invoiced.
      orders.push({ id: 121, number: 21, email: "buyer21@example.com", changedAt: now });
      orders.push({ id: 122, number: 22, email: "buyer22@example.com", changedAt: now });
      invoices.push({ id: "inv-22", docNumber: "S-22", email: "buyer22@example.com", changedAt: now });
      // S-3 is made at last and S-5 corrected, their orders untouched: judged against the orders kept.
      invoices.push({ id: "inv-3", docNumber: "S-3", email: "buyer3@example.com", changedAt: now });
      Object.assign(invoice("S-5"), { email: "buyer5@example.com", changedAt: now });
      // Order 7's email changes in the store only.
      Object.assign(order(7), { email: "new7@example.com", changedAt: now });
      // Invoice inv-8 is renumbered S-80 and order 8 touched: S-8 is gone, though the first pass kept it there.
      Object.assign(invoice("S-8"), { docNumber: "S-80", changedAt: now });
      order(8).changedAt = now;
      // S-12 is deleted by hand: nothing an incremental pass can see.
      invoices.splice(invoices.indexOf(invoice("S-12")), 1);

      clock.advance(1000);
      const second = await reconcile.run(id);
      expect(second).toMatchObject({ pass: "incremental", since: first.startedAt });
      expect(sinceAsked()).toEqual(new Set([first.startedAt]));
      expect(second.counts).toMatchObject({
        leftRecords: 4,
        rightRecords: 4,
        matched: 3,
        missingRight: 2,
        missingLeft: 1,
        mismatched: 1,
        newFindings: 4,
        resolvedFindings: 2,
      });
      // 9's mismatch was not judged (neither side changed): it stays open.
      expect(await open()).toEqual([
        "missing_right 21",
        "mismatch 7 email",
        "missing_right 8",
        "missing_left 80",
        "mismatch 9 email",
      ]);

      clock.advance(60_000);
      const quiet = await reconcile.run(id);
      expect(quiet).toMatchObject({ pass: "incremental", since: second.startedAt });
      expect(sinceAsked()).toEqual(new Set([second.startedAt]));
      expect(quiet.counts).toMatchObject({
        leftRecords: 0,
        rightRecords: 0,
        matched: 0,
        newFindings: 0,
        resolvedFindings: 0,
      });

      // An hour after the first full pass: the next one, which sees S-12 gone.
      clock.advance(60 * 60_000);
      const full = await reconcile.run(id);
      expect(full).toMatchObject({ pass: "full", since: null });
      expect(sinceAsked()).toEqual(new Set([null]));
      expect(full.counts).toMatchObject({
        leftRecords: 22,
        rightRecords: 20,
        matched: 17,
        missingRight: 3,
        missingLeft: 1,
        mismatched: 2,
        newFindings: 1,
        resolvedFindings: 0,
      });
      expect(await open()).toContain("missing_right 12");
      // What earlier passes kept is dropped once a full pass completes; the full pass's own records are kept.
      for (const earlier of [first, second, quiet])
        expect(await t.storage.reconcile.countSpilled(earlier.runId, "left")).toBe(0);
      expect(await t.storage.reconcile.countSpilled(full.runId, "left")).toBe(22);

      // Asked for, a full pass runs whenever; a dry run keeps nothing.
      clock.advance(60_000);
      const dry = await reconcile.run(id, { dryRun: true });
      expect(dry).toMatchObject({ pass: "incremental", dryRun: true });
      expect(await t.storage.reconcile.countSpilled(dry.runId, "left")).toBe(0);
      const asked = await reconcile.run(id, { full: true });
      expect(asked).toMatchObject({ pass: "full" });
      expect(asked.counts).toMatchObject({ leftRecords: 22, newFindings: 0, resolvedFindings: 0 });
      expect(await t.storage.reconcile.countSpilled(full.runId, "left")).toBe(0);
    } finally {
      await reconcile.stop();
    }
  });
});
