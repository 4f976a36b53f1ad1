import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { storeVsAccounting } from "../../examples/reconciliations.ts";
import { startTenonServices, type TenonServices } from "../../src/app/tenon-services.ts";
import type { TenonConfig } from "../../src/config/define-config.ts";
import { readSettings } from "../../src/config/settings.ts";
import { createSandbox, type Sandbox } from "../../src/sandbox/create-sandbox.ts";
import { sandboxEnvironment } from "../../src/sandbox/sandbox-environment.ts";
import type { AccountingSystem } from "../../src/sandbox/systems/accounting.ts";
import { builtInSystems } from "../../src/sandbox/systems/index.ts";
import type { Store } from "../../src/sandbox/systems/store.ts";
import type { Reconciliation } from "../../src/sdk/define-reconciliation.ts";
import type { RunStatus } from "../../src/storage/contract.ts";
import { importConfigAfresh } from "../../src/testing/import-config.ts";
import { type Backend, backends, type TestDatabase } from "../support/backends.ts";
import { testVault } from "../support/connections.ts";
import { silentLogger } from "../support/engine.ts";
import { waitFor } from "../support/wait.ts";

const examplesConfig = fileURLToPath(new URL("../../examples/tenon.config.ts", import.meta.url));
const operatorToken = "operator-token-0123456789";
const orders = 240;
const deletedInvoices = 9;
const changedTotals = 5;

describe.each(backends)("store vs accounting on $name", (backend: Backend) => {
  let sandbox: Sandbox | undefined;
  let services: TenonServices | undefined;
  let db: TestDatabase | undefined;
  afterEach(async () => {
    await sandbox?.close();
    await services?.stop(5_000);
    await db?.cleanup();
  });

  async function start(): Promise<{ sandbox: Sandbox; services: TenonServices }> {
    sandbox = createSandbox({ systems: builtInSystems, webhookTimeScale: 60 });
    await sandbox.listen({ host: "127.0.0.1", port: 0 });
    // QuickBooks' documented throttle (500 requests a minute) would make this test minutes long: off here.
    Object.assign(process.env, sandboxEnvironment(sandbox, Object.keys(builtInSystems)), {
      ACCOUNTING_RATE_LIMIT: "off",
    });
    const examples = await importConfigAfresh(examplesConfig);
    const { alerts: _alerts, ...withoutAlerts } = examples;
    const config: TenonConfig = {
      ...withoutAlerts,
      integrations: examples.integrations.filter((integration) => integration.id === "order-to-cash"),
      polls: [],
      // Judged at once: every order here is settled (its run finished) before a reconciliation runs.
      // Typed against the compiled package (the examples import "tenon"), run from the sources (vitest's alias).
      reconciliations: [storeVsAccounting({ settle: 0 }) as unknown as Reconciliation],
    };
    db = backend.create();
    services = await startTenonServices({
      config,
      settings: readSettings({
        TENON_HTTP_PORT: "0",
        TENON_LOG_LEVEL: "silent",
        TENON_API_TOKENS: `ops:operator:${operatorToken}`,
      }),
      storage: db.open(),
      vault: testVault(),
      logger: silentLogger,
    });
    sandbox.webhooks("store").url = `${services.address}/hooks/store`;
    return { sandbox, services };
  }

  async function api(services: TenonServices, method: string, path: string, body?: unknown) {
    const response = await fetch(`${services.address}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${operatorToken}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    // biome-ignore lint/suspicious/noExplicitAny: tests look into whatever JSON came back
    return { status: response.status, json: (await response.json()) as any };
  }

  /** Every run there is has ended, and there are `count` of them. */
  async function allRunsEnded(services: TenonServices, count: number, what: string) {
    await waitFor(
      what,
      async () => {
        const runs = await services.engine.storage.countRunsByStatus();
        const ended = (["succeeded", "failed", "dead"] as RunStatus[]).reduce((sum, s) => sum + (runs[s] ?? 0), 0);
        const all = Object.values(runs).reduce((sum, n) => sum + (n ?? 0), 0);
        return all === count && ended === count;
      },
      120_000,
      50,
    );
    expect(await services.engine.storage.countRunsByStatus()).toEqual({ succeeded: count });
  }

  /** Starts a run through the API and waits for its report. */
  async function reconcile(services: TenonServices, dryRun: boolean) {
    const started = await api(services, "POST", "/api/reconciliations/store-vs-accounting/run", { dryRun });
    expect(started.status).toBe(202);
    await waitFor(
      "the reconciliation run to end",
      async () => (await services.engine.storage.getRun(started.json.runId))?.status === "succeeded",
      60_000,
      50,
    );
    const report = await api(services, "GET", "/api/reconciliations/store-vs-accounting/reports/latest?limit=1000");
    expect(report.json.report.runId).toBe(started.json.runId);
    return report.json.report;
  }

  it("finds exactly the invoices deleted by hand and the orders whose webhook was lost, repairs those once, and keeps reporting changed totals", async () => {
    const { sandbox, services } = await start();
    const store = sandbox.system<Store>("store");
    const books = sandbox.system<AccountingSystem>("accounting");
    sandbox.setFaults("store", { dropWebhooksRate: 0.04 });
    const placed = Array.from({ length: orders }, () => store.placeOrder());
    const dropped = store.state().counters.webhooksDropped;
    expect(dropped).toBeGreaterThan(0);
    let runs = orders - dropped;
    await allRunsEnded(services, runs, "order-to-cash to invoice every order whose webhook was sent");
    sandbox.setFaults("store", { dropWebhooksRate: null });

    // A person deletes invoices in accounting, and changes orders' totals in the store: nobody is told.
    const invoices = books.state().invoices;
    for (const invoice of invoices.slice(0, deletedInvoices)) {
      const response = await fetch(`${sandbox.url}/_sandbox/accounting/invoices/${invoice.id}`, { method: "DELETE" });
      expect(response.status).toBe(204);
    }
    const changed = invoices.slice(deletedInvoices, deletedInvoices + changedTotals).map((invoice) => {
      const order = placed.find((o) => `S-${o.order_number}` === invoice.docNumber);
      return order as (typeof placed)[number];
    });
    for (const order of changed) {
      const response = await fetch(`${sandbox.url}/_sandbox/store/orders/${order.id}`, {
        method: "PATCH",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ lines: [{ quantity: (order.line_items[0]?.quantity ?? 1) + 1 }] }),
      });
      expect(response.status).toBe(200);
    }
    const missing = deletedInvoices + dropped;
    const records = () => ({ orders: store.state().orders, books: { ...books.state(), oauth: null } });

    // A dry run changes nothing anywhere: the same records, and no run but its own.
    const before = records();
    const dry = await reconcile(services, true);
    runs += 1;
    expect(dry.counts).toMatchObject({
      leftRecords: orders,
      rightRecords: orders - missing,
      matched: orders - missing - changedTotals,
      missingRight: missing,
      missingLeft: 0,
      mismatched: changedTotals,
      mismatchedByField: { total: changedTotals, email: 0 },
      repairsRequested: missing,
    });
    expect(records()).toEqual(before);
    await allRunsEnded(services, runs, "the dry run alone");

    const first = await reconcile(services, false);
    expect(first.counts).toMatchObject({
      matched: orders - missing - changedTotals,
      missingRight: missing,
      mismatched: changedTotals,
      newFindings: missing + changedTotals,
      repairsRequested: missing,
    });
    const totals = first.findings.filter((f: { field: string | null }) => f.field === "total");
    expect(totals.map((f: { key: string }) => f.key).sort()).toEqual(changed.map((o) => String(o.order_number)).sort());
    // Each repair is a run that emits the order's event again; order-to-cash makes the invoice from it.
    runs += 1 + 2 * missing;
    await allRunsEnded(services, runs, "the repairs and the order-to-cash runs they started");

    const second = await reconcile(services, false);
    runs += 1;
    expect(second.counts).toMatchObject({
      matched: orders - changedTotals,
      missingRight: 0,
      missingLeft: 0,
      mismatched: changedTotals,
      newFindings: 0,
      resolvedFindings: missing,
      repairsRequested: 0,
    });
    // Every order has exactly one invoice: none was made twice.
    const state = books.state();
    expect(state.invoices).toHaveLength(orders);
    expect(state.counts.duplicateDocNumbers).toBe(0);
    expect(new Set(state.invoices.map((i) => i.docNumber))).toEqual(new Set(placed.map((o) => `S-${o.order_number}`)));
    // The changed totals stay open findings, first seen by the first run.
    const open = await api(services, "GET", "/api/reconciliations/store-vs-accounting/findings");
    expect(open.json.findings).toHaveLength(changedTotals);
    expect(new Set(open.json.findings.map((f: { firstSeenAt: string }) => f.firstSeenAt))).toEqual(
      new Set([first.startedAt]),
    );
    await allRunsEnded(services, runs, "nothing more");
  });
});
