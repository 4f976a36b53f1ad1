import { describe, expect, it } from "vitest";
import { compareKeys } from "../../src/reconciliation/finding-id.ts";
import { backends, useTestStorage } from "../support/backends.ts";

const full = { pass: "full", since: null } as const;
const noCounts = {
  leftRecords: 0,
  rightRecords: 0,
  matched: 0,
  missingLeft: 0,
  missingRight: 0,
  mismatched: 0,
  mismatchedByField: {},
};

describe.each(backends)("the reconciliation store on $name", (backend) => {
  const t = useTestStorage(backend);

  it("returns spilled records in the byte order the merge compares keys in, a page at a time", async () => {
    await t.storage.migrate();
    const store = t.storage.reconcile;
    await store.beginReport({ ...full, runId: "run-1", reconciliationId: "r", dryRun: false, at: 1 });
    const keys = ["b", "B", "a", "10", "9", "é", "e", "z", "Z", "ä", "日本", "😀", "\uffff", "a b", "a-b"];
    await store.spillPage({
      runId: "run-1",
      side: "left",
      page: 0,
      records: keys.slice(0, 8).map((key) => ({ key, fieldsJson: "{}" })),
    });
    await store.spillPage({
      runId: "run-1",
      side: "left",
      page: 1,
      records: keys.slice(8).map((key) => ({ key, fieldsJson: "{}" })),
    });
    const read: string[] = [];
    let after: { key: string; page: number; position: number } | null = null;
    for (;;) {
      const rows = await store.readSpilled({ runId: "run-1", side: "left", after, limit: 4 });
      read.push(...rows.map((row) => row.key));
      const last = rows.at(-1);
      if (!last || rows.length < 4) break;
      after = { key: last.key, page: last.page, position: last.position };
    }
    expect(read).toEqual([...keys].sort(compareKeys));
    // JavaScript's own string order (UTF-16 units) differs from the bytes' for these two: the merge must not use it.
    expect(["\uffff", "😀"].sort()).toEqual(["😀", "\uffff"]);
    expect(["\uffff", "😀"].sort(compareKeys)).toEqual(["\uffff", "😀"]);
  });

  it("a page stored again (its step retried after a crash) replaces what the first attempt stored", async () => {
    await t.storage.migrate();
    const store = t.storage.reconcile;
    const rows = (keys: string[]) => keys.map((key) => ({ key, fieldsJson: JSON.stringify({ key }) }));
    await store.spillPage({ runId: "run-1", side: "right", page: 3, records: rows(["a", "b", "c"]) });
    await store.spillPage({ runId: "run-1", side: "right", page: 3, records: rows(["a", "d"]) });
    await store.spillPage({ runId: "run-1", side: "left", page: 3, records: rows(["x"]) });
    const right = await store.readSpilled({ runId: "run-1", side: "right", after: null, limit: 10 });
    expect(right.map((row) => [row.key, row.page, row.position])).toEqual([
      ["a", 3, 0],
      ["d", 3, 1],
    ]);
  });

  it("numbers a reconciliation's reports in order, and a run's report once however often it begins", async () => {
    await t.storage.migrate();
    const store = t.storage.reconcile;
    const first = await store.beginReport({ ...full, runId: "run-1", reconciliationId: "r", dryRun: false, at: 10 });
    const again = await store.beginReport({ ...full, runId: "run-1", reconciliationId: "r", dryRun: false, at: 20 });
    const other = await store.beginReport({ ...full, runId: "run-9", reconciliationId: "other", dryRun: true, at: 30 });
    const second = await store.beginReport({ ...full, runId: "run-2", reconciliationId: "r", dryRun: true, at: 40 });
    expect([first.number, again.number, again.startedAt, other.number, second.number]).toEqual([1, 1, 10, 1, 2]);
    expect((await store.getReport("r", "latest"))?.runId).toBe("run-2");
    expect((await store.listReports("r", 10)).map((report) => report.number)).toEqual([2, 1]);
  });

  it("keeps the records of an incremental reconciliation's passes from its newest full pass on, each record where the newest pass listed it", async () => {
    await t.storage.migrate();
    const store = t.storage.reconcile;
    const row = (key: string, recordId: string, value: string) => ({
      key,
      recordId,
      fieldsJson: JSON.stringify({ value }),
    });
    const complete = (runId: string, keepRecords: boolean) =>
      store.completeReport({ runId, counts: noCounts, merge: "spilled", mergeNote: null, keepRecords, at: 1 });
    expect(await store.keptPasses("r")).toEqual({ lastStartedAt: null, lastFullStartedAt: null, runIds: [] });

    await store.beginReport({ ...full, runId: "full-1", reconciliationId: "r", dryRun: false, at: 100 });
    await store.spillPage({
      runId: "full-1",
      side: "right",
      page: 0,
      records: [row("1", "inv-1", "a"), row("2", "inv-2", "b")],
    });
    await complete("full-1", true);
    await store.beginReport({
      runId: "inc-2",
      reconciliationId: "r",
      dryRun: false,
      pass: "incremental",
      since: 100,
      at: 200,
    });
    // inv-2 is renumbered 3; inv-1 is listed again, changed.
    await store.spillPage({
      runId: "inc-2",
      side: "right",
      page: 0,
      records: [row("3", "inv-2", "b"), row("1", "inv-1", "c")],
    });
    await complete("inc-2", true);
    await store.beginReport({
      runId: "dry-3",
      reconciliationId: "r",
      dryRun: true,
      pass: "incremental",
      since: 200,
      at: 300,
    });
    await store.spillPage({ runId: "dry-3", side: "right", page: 0, records: [row("1", "inv-1", "d")] });
    await complete("dry-3", false);

    const kept = await store.keptPasses("r");
    expect(kept).toEqual({ lastStartedAt: 200, lastFullStartedAt: 100, runIds: ["full-1", "inc-2"] });
    await store.beginReport({
      runId: "inc-4",
      reconciliationId: "r",
      dryRun: false,
      pass: "incremental",
      since: 200,
      at: 400,
    });
    await store.spillPage({ runId: "inc-4", side: "right", page: 0, records: [row("4", "inv-9", "e")] });
    const read = await store.readKept({
      runId: "inc-4",
      keptRunIds: kept.runIds,
      side: "right",
      keys: ["1", "2", "3"],
    });
    expect(read.map((r) => [r.key, r.recordId, JSON.parse(r.fieldsJson).value])).toEqual([
      ["1", "inv-1", "c"],
      ["3", "inv-2", "b"],
    ]);
    expect(await store.readKept({ runId: "inc-4", keptRunIds: kept.runIds, side: "left", keys: ["1"] })).toEqual([]);
    expect(await store.countSpilled("dry-3", "right")).toBe(0);
    await complete("inc-4", true);

    // A full pass, once complete, drops what every earlier run kept, and is where incremental passes start again.
    await store.beginReport({ ...full, runId: "full-5", reconciliationId: "r", dryRun: false, at: 500 });
    await store.spillPage({ runId: "full-5", side: "right", page: 0, records: [row("1", "inv-1", "c")] });
    await complete("full-5", true);
    for (const runId of ["full-1", "inc-2", "inc-4"]) expect(await store.countSpilled(runId, "right")).toBe(0);
    expect(await store.keptPasses("r")).toEqual({ lastStartedAt: 500, lastFullStartedAt: 500, runIds: ["full-5"] });
    expect(await store.getReport("r", 5)).toMatchObject({
      pass: "full",
      since: null,
      merge: "spilled",
      status: "complete",
    });
    expect(await store.getReport("r", 4)).toMatchObject({ pass: "incremental", since: 200 });
  });
});
