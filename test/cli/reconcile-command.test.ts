import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Storage } from "../../src/storage/contract.ts";
import { importConfigAfresh } from "../../src/testing/import-config.ts";
import { type Backend, backends, type TestDatabase, useTestStorage } from "../support/backends.ts";
import { type ReconcileEngine, startReconcileEngine } from "../support/reconciliation.ts";
import { runTenonCli } from "../support/tenon-cli.ts";

// The CLI runs the compiled package; the config must make its reconciliations with that same copy of Tenon.
const tenonUrl = new URL("../../dist/index.js", import.meta.url).href;

/** Orders 1–5 in the store, invoices for 1–3 (and 3's total is off), paged two at a time. */
const config = `
import { defineReconciliation, normalizers } from ${JSON.stringify(tenonUrl)};

const orders = [1, 2, 3, 4, 5].map((n) => ({ n, total: n * 10 }));
const invoices = [1, 2, 3].map((n) => ({ n, total: n === 3 ? 31 : n * 10 }));
const paged = (records) => async ({ cursor }) => {
  const start = Number(cursor ?? 0);
  return { records: records.slice(start, start + 2), nextCursor: start + 2 < records.length ? String(start + 2) : null };
};

export default {
  integrations: [],
  reconciliations: [
    defineReconciliation({
      id: "orders-vs-invoices",
      left: { list: paged(orders), show: (order) => ({ order: order.n }) },
      right: { list: paged(invoices), show: (invoice) => ({ invoice: "S-" + invoice.n }) },
      match: { left: (order) => order.n, right: (invoice) => invoice.n },
      compare: { total: { left: (o) => o.total, right: (i) => i.total, normalize: normalizers.money() } },
    }),
  ],
};
`;

describe.each(backends)("tenon reconcile ($name)", (backend: Backend) => {
  const testStorage = useTestStorage(backend);
  let db: TestDatabase;
  let storage: Storage;
  let cwd: string;
  let worker: ReconcileEngine | undefined;

  beforeEach(async () => {
    cwd = mkdtempSync(join(tmpdir(), "tenon-reconcile-"));
    writeFileSync(join(cwd, "package.json"), '{ "type": "module" }\n');
    writeFileSync(join(cwd, "tenon.config.ts"), config);
    ({ db, storage } = testStorage);
    await storage.migrate();
    // What `tenon start` would be: a worker on the same database, running the same config's reconciliations.
    const loaded = await importConfigAfresh(join(cwd, "tenon.config.ts"));
    worker = await startReconcileEngine(storage, loaded.reconciliations ?? []);
  });

  afterEach(async () => {
    await worker?.stop();
    rmSync(cwd, { recursive: true, force: true });
  });

  const tenon = (args: string[]) => runTenonCli(cwd, args, db.env);

  it("runs a reconciliation through the workers, prints its report, and reads it again by number", async () => {
    const dry = await tenon(["reconcile", "run", "orders-vs-invoices", "--dry-run"]);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain("orders-vs-invoices report #1 (dry run): complete");
    expect(dry.stdout).toContain("matched 2 · missing on the right 2 · missing on the left 0 · mismatched 1 (total 1)");
    expect(await storage.reconcile.countOpenFindings()).toEqual([]);

    const run = await tenon(["reconcile", "run", "orders-vs-invoices"]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain("orders-vs-invoices report #2: complete");
    expect(run.stdout).toContain("new findings 3 · resolved 0");
    expect(run.stdout).toMatch(/missing_right\s+4\s+—?\s*order=4\s+—/);
    expect(run.stdout).toMatch(/mismatch\s+3\s+total\s+3000\s+3100/);

    const report = await tenon(["reconcile", "report", "orders-vs-invoices", "1", "--json"]);
    expect(report.code, report.stderr).toBe(0);
    const json = JSON.parse(report.stdout);
    expect(json.report).toMatchObject({ reconciliation: "orders-vs-invoices", number: 1, dryRun: true });
    expect(json.report.findings.map((f: { type: string; key: string }) => `${f.type} ${f.key}`)).toEqual([
      "mismatch 3",
      "missing_right 4",
      "missing_right 5",
    ]);

    const list = await tenon(["reconcile"]);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/orders-vs-invoices\s+on demand\s+none\s+3\s+#2 complete/);

    const log = await storage.operatorAccess.listOperatorLog({ limit: 10 });
    expect(log.map((entry) => entry.action)).toContain("tenon reconcile run");
  });

  it("names the reconciliations there are when asked for one that is not", async () => {
    const result = await tenon(["reconcile", "run", "orders-vs-bills"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      'no reconciliation "orders-vs-bills" in tenon.config.ts; declared: orders-vs-invoices',
    );
    const report = await tenon(["reconcile", "report", "orders-vs-invoices"]);
    expect(report.code).toBe(1);
    expect(report.stderr).toContain('reconciliation "orders-vs-invoices" has no report yet');
  });
});
