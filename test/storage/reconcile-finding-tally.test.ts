import { describe, expect, it } from "vitest";
import type { FindingType, NewReportFinding } from "../../src/storage/reconcile-store.ts";
import { backends, useTestStorage } from "../support/backends.ts";

describe.each(backends)("the reconciliation findings' tally on $name", (backend) => {
  const t = useTestStorage(backend);

  const finding = (type: FindingType, key: string, field: string | null = null): NewReportFinding => ({
    id: `${type}:${key}:${field ?? ""}`,
    type,
    key,
    field,
    leftJson: type === "missing_left" ? null : "{}",
    rightJson: type === "missing_right" ? null : "{}",
  });

  /** One complete run of reconciliation `id` that found these, settled at `at`. */
  async function run(id: string, runId: string, at: number, findings: NewReportFinding[]) {
    const store = t.storage.reconcile;
    await store.beginReport({ runId, reconciliationId: id, dryRun: false, pass: "full", since: null, at });
    await store.addReportFindings(runId, findings);
    await store.settleFindings({ runId, reconciliationId: id, at });
  }

  it("counts per reconciliation and type what was found, what is open, and what a run saw fixed after its repair", async () => {
    await t.storage.migrate();
    const store = t.storage.reconcile;
    expect(await store.tallyFindings()).toEqual([]);

    const [repaired, fixedByHand, mismatch] = [
      finding("missing_right", "1001"),
      finding("missing_right", "1002"),
      finding("mismatch", "1003", "total"),
    ] as const;
    await run("store-vs-accounting", "run-1", 10, [repaired, fixedByHand, mismatch]);
    await run("payments-vs-accounting", "run-p", 10, [finding("missing_left", "pi_1")]);
    await store.markRepairRequested([repaired.id], "auto", 11);
    // The repaired invoice is back, the other one was made again by someone: both resolved, one by its repair.
    await run("store-vs-accounting", "run-2", 20, [mismatch]);
    expect(await store.tallyFindings()).toEqual([
      { reconciliationId: "payments-vs-accounting", type: "missing_left", seen: 1, open: 1, repaired: 0 },
      { reconciliationId: "store-vs-accounting", type: "mismatch", seen: 1, open: 1, repaired: 0 },
      { reconciliationId: "store-vs-accounting", type: "missing_right", seen: 2, open: 0, repaired: 1 },
    ]);

    // Missing again after its repair: the same finding, open once more, and not repaired in this occurrence.
    await run("store-vs-accounting", "run-3", 30, [repaired, mismatch]);
    expect((await store.tallyFindings()).find((tally) => tally.type === "missing_right")).toEqual({
      reconciliationId: "store-vs-accounting",
      type: "missing_right",
      seen: 2,
      open: 1,
      repaired: 0,
    });
  });
});
