import { describe, expect, it } from "vitest";
import { compareKeys } from "../../src/reconciliation/finding-id.ts";
import { backends, useTestStorage } from "../support/backends.ts";

describe.each(backends)("the reconciliation store on $name", (backend) => {
  const t = useTestStorage(backend);

  it("returns spilled records in the byte order the merge compares keys in, a page at a time", async () => {
    await t.storage.migrate();
    const store = t.storage.reconcile;
    await store.beginReport({ runId: "run-1", reconciliationId: "r", dryRun: false, at: 1 });
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
    const first = await store.beginReport({ runId: "run-1", reconciliationId: "r", dryRun: false, at: 10 });
    const again = await store.beginReport({ runId: "run-1", reconciliationId: "r", dryRun: false, at: 20 });
    const other = await store.beginReport({ runId: "run-9", reconciliationId: "other", dryRun: true, at: 30 });
    const second = await store.beginReport({ runId: "run-2", reconciliationId: "r", dryRun: true, at: 40 });
    expect([first.number, again.number, again.startedAt, other.number, second.number]).toEqual([1, 1, 10, 1, 2]);
    expect((await store.getReport("r", "latest"))?.runId).toBe("run-2");
    expect((await store.listReports("r", 10)).map((report) => report.number)).toEqual([2, 1]);
  });
});
