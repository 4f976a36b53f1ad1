import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { freePort } from "../../src/demo/dev-environment.ts";
import { createSandbox, type Sandbox } from "../../src/sandbox/create-sandbox.ts";
import { sandboxEnvironment } from "../../src/sandbox/sandbox-environment.ts";
import type { AccountingSystem } from "../../src/sandbox/systems/accounting.ts";
import { builtInSystems } from "../../src/sandbox/systems/index.ts";
import { createStore, type SeededOrder, type Store } from "../../src/sandbox/systems/store.ts";
import type { RunStatus, Storage } from "../../src/storage/contract.ts";
import { spawnNode, type WorkerProcess } from "../fixtures/spawn-worker.ts";
import { type Backend, backends, type TestDatabase } from "../support/backends.ts";
import { waitFor } from "../support/wait.ts";

const tenonBin = fileURLToPath(new URL("../../bin/tenon.js", import.meta.url));
const config = fileURLToPath(new URL("../fixtures/store-vs-accounting.config.ts", import.meta.url));
const operatorToken = "operator-token-0123456789";
const reconciliation = "/api/reconciliations/store-vs-accounting";

/** Orders order-to-cash invoiced long ago, seeded straight into both systems. */
const seeded = 4_980;
/** Orders placed while the store loses every webhook: nobody is told of them. */
const unannounced = 20;
const orders = seeded + unannounced;
const deletedInvoices = 37;
const changedTotals = 12;
const missing = deletedInvoices + unannounced;

/** A `tenon start` process with the fixture config, answering on its own port. */
interface TenonProcess {
  worker: WorkerProcess;
  address: string;
}

describe.each(backends)("store vs accounting, 5,000 orders, on $name", (backend: Backend) => {
  let sandbox: Sandbox | undefined;
  let db: TestDatabase | undefined;
  let storage: Storage | undefined;
  const workers: WorkerProcess[] = [];
  afterEach(async () => {
    for (const worker of workers.splice(0)) await worker.kill9();
    await storage?.close();
    await sandbox?.close();
    await db?.cleanup();
  });

  async function startTenon(env: Record<string, string>): Promise<TenonProcess> {
    const port = await freePort("127.0.0.1", 0);
    const worker = spawnNode([tenonBin, "start", "--config", config], { ...env, TENON_HTTP_PORT: String(port) });
    workers.push(worker);
    const address = `http://127.0.0.1:${port}`;
    await waitFor(
      `tenon start on port ${port} to be ready`,
      async () => {
        const exited = worker.exitInfo();
        if (exited) throw new Error(`tenon start ${exited}`);
        return (await fetch(`${address}/health`)).ok;
      },
      60_000,
      50,
    );
    return { worker, address };
  }

  async function api(tenon: TenonProcess, method: string, path: string, body?: unknown) {
    const response = await fetch(`${tenon.address}${path}`, {
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

  /** A person (or the store) acting in the sandbox's own UI: its control routes. */
  async function control(method: string, path: string, body?: unknown): Promise<Response> {
    return fetch(`${(sandbox as Sandbox).url}/_sandbox/${path}`, {
      method,
      ...(body === undefined ? {} : { headers: { "content-type": "application/json" }, body: JSON.stringify(body) }),
    });
  }

  async function startRun(tenon: TenonProcess, dryRun: boolean): Promise<string> {
    const started = await api(tenon, "POST", `${reconciliation}/run`, { dryRun });
    expect(started.status).toBe(202);
    return started.json.runId;
  }

  async function reportOf(tenon: TenonProcess, runId: string) {
    await waitFor(
      `reconciliation run ${runId} to succeed`,
      async () => (await (storage as Storage).getRun(runId))?.status === "succeeded",
      120_000,
      50,
    );
    const reports = await api(tenon, "GET", `${reconciliation}/reports?limit=10`);
    const number = reports.json.reports.find((report: { runId: string }) => report.runId === runId)?.number;
    const report = await api(tenon, "GET", `${reconciliation}/reports/${number}?limit=1000`);
    return report.json.report;
  }

  /** There are `count` runs, and every one has succeeded. */
  async function allRunsSucceeded(count: number, what: string) {
    const ended = await waitFor(
      what,
      async () => {
        const runs = await (storage as Storage).countRunsByStatus();
        const all = Object.values(runs).reduce((sum, n) => sum + (n ?? 0), 0);
        const finished = (["succeeded", "failed", "dead"] as RunStatus[]).reduce((sum, s) => sum + (runs[s] ?? 0), 0);
        return all === count && finished === count ? runs : null;
      },
      120_000,
      50,
    );
    expect(ended).toEqual({ succeeded: count });
  }

  it("reports exactly the 57 missing invoices and 12 changed totals, repairs each missing one once though the worker repairing them is killed -9 half-way, and keeps reporting the totals", async () => {
    // Shopify's standard plan (2 requests a second) would make listing 5,000 orders and fetching the 57 to repair
    // a minute long: the test store answers at once (the rate limiting has tests of its own).
    sandbox = createSandbox({
      systems: {
        ...builtInSystems,
        store: (context) => createStore(context, { bucketSize: 100_000, leakRatePerSecond: 100_000 }),
      },
    });
    const store = sandbox.system<Store>("store");
    const books = sandbox.system<AccountingSystem>("accounting");
    // The worker dies the instant the sandbox has made the invoice of the 28th repair, before it hears so: the
    // interrupted step runs again in the next worker, and its check-then-act must find that invoice.
    const kill = {
      target: undefined as WorkerProcess | undefined,
      atInvoices: 0,
      killedAt: undefined as number | undefined,
    };
    sandbox.app.addHook("onSend", async (request, reply, payload) => {
      const made =
        request.method === "POST" && request.url.split("?")[0]?.endsWith("/invoice") && reply.statusCode === 200;
      const invoices = books.counts().invoices ?? 0;
      if (made && kill.target && invoices >= kill.atInvoices) {
        kill.target.child.kill("SIGKILL");
        kill.target = undefined;
        kill.killedAt = invoices;
      }
      return payload;
    });
    await sandbox.listen({ host: "127.0.0.1", port: 0 });

    // 4,980 orders order-to-cash invoiced long ago: each has its invoice S-<number>, total and email alike.
    const placed: SeededOrder[] = [];
    store.seedOrders(seeded, (order) => placed.push(order));
    books.seedInvoices(
      placed.map((order) => ({
        docNumber: `S-${order.orderNumber}`,
        email: order.email,
        totalCents: order.totalCents,
      })),
    );
    db = backend.create();
    const env = {
      ...sandboxEnvironment(sandbox, Object.keys(builtInSystems)),
      ...db.env,
      TENON_MASTER_KEY: randomBytes(32).toString("base64"),
      TENON_API_TOKENS: `ops:operator:${operatorToken}`,
      // On PostgreSQL the second worker takes the killed one's runs over once their lease lapses.
      TENON_LEASE_MS: "1000",
      TENON_LOG_LEVEL: "warn",
      // QuickBooks' documented throttle (500 requests a minute) would make the repairs minutes long: off here.
      ACCOUNTING_RATE_LIMIT: "off",
      STORE_RATE_LIMIT: "off",
    };
    const first = await startTenon(env);
    storage = db.open();

    // The store loses the webhooks of 20 new orders: they exist, and no run ever hears of them.
    expect((await control("POST", "store/faults", { dropWebhooksRate: 1 })).status).toBe(200);
    for (let i = 0; i < unannounced; i += 1) expect((await control("POST", "store/orders", {})).status).toBe(201);
    expect((await control("POST", "store/faults", { dropWebhooksRate: null })).status).toBe(200);
    expect(store.state().counters).toMatchObject({ orders, webhooksDropped: unannounced, webhooksSent: 0 });
    // A person deletes 37 invoices in accounting and changes 12 orders' totals in the store: nobody is told.
    const invoiceIds = new Map(books.state().invoices.map((invoice) => [invoice.docNumber, invoice.id]));
    const deleted = placed.filter((_, i) => i % 100 === 7).slice(0, deletedInvoices);
    const changed = placed.filter((_, i) => i % 100 === 57).slice(0, changedTotals);
    for (const order of deleted) {
      const id = invoiceIds.get(`S-${order.orderNumber}`);
      expect((await control("DELETE", `accounting/invoices/${id}`)).status).toBe(204);
    }
    for (const order of changed) {
      expect((await control("PATCH", `store/orders/${order.id}`, { lines: [{ price: "999.99" }] })).status).toBe(200);
    }
    const invoicesLeft = seeded - deletedInvoices;
    expect(books.counts().invoices).toBe(invoicesLeft);

    // A dry run changes nothing anywhere: the same records, and no run but its own.
    const records = () => ({ orders: store.state().orders, books: { ...books.state(), oauth: null } });
    const before = records();
    const dry = await reportOf(first, await startRun(first, true));
    expect(dry.counts).toMatchObject({
      leftRecords: orders,
      rightRecords: invoicesLeft,
      matched: orders - missing - changedTotals,
      missingRight: missing,
      missingLeft: 0,
      mismatched: changedTotals,
      mismatchedByField: { total: changedTotals, email: 0 },
      repairsRequested: missing,
    });
    expect(records()).toEqual(before);
    await allRunsSucceeded(1, "the dry run alone");

    // The run repairs the 57 at once (auto mode): a repair run each, emitting the order's event to order-to-cash.
    kill.atInvoices = invoicesLeft + Math.floor(missing / 2);
    kill.target = first.worker;
    const runId = await startRun(first, false);
    await waitFor("the first worker to be killed half-way through the repairs", () => first.worker.exitInfo(), 120_000);
    // Half-way: requests in flight may have made one or two more invoices before the kill landed.
    expect(kill.killedAt).toBeGreaterThanOrEqual(kill.atInvoices);
    expect(kill.killedAt).toBeLessThan(orders - 10);
    // The run whose answer the kill cut off had not finished: the second worker finishes it (and any others).
    const finished = (await (storage as Storage).countRunsByStatus()).succeeded ?? 0;
    expect(finished).toBeLessThan(2 + 2 * missing);

    const second = await startTenon(env);
    const report = await reportOf(second, runId);
    expect(report.counts).toMatchObject({
      leftRecords: orders,
      rightRecords: invoicesLeft,
      matched: orders - missing - changedTotals,
      missingRight: missing,
      missingLeft: 0,
      mismatched: changedTotals,
      newFindings: missing + changedTotals,
      repairsRequested: missing,
    });
    const byType = (type: string) =>
      report.findings
        .filter((finding: { type: string }) => finding.type === type)
        .map((finding: { key: string }) => finding.key)
        .sort();
    expect(byType("mismatch")).toEqual(changed.map((order) => String(order.orderNumber)).sort());
    const unannouncedNumbers = store
      .state()
      .orders.slice(-unannounced)
      .map((order) => order.name.slice(1));
    expect(byType("missing_right")).toEqual(
      [...deleted.map((order) => String(order.orderNumber)), ...unannouncedNumbers].sort(),
    );
    // The dry run, this run, and per missing invoice a repair run and the order-to-cash run it started: no more.
    await allRunsSucceeded(2 + 2 * missing, "the repairs and the order-to-cash runs they started");
    // Every order has exactly one invoice: none was made twice, not even the one whose answer the kill cut off.
    const state = books.state();
    expect(state.invoices).toHaveLength(orders);
    expect(state.counts.duplicateDocNumbers).toBe(0);
    expect(new Set(state.invoices.map((invoice) => invoice.docNumber))).toEqual(
      new Set(store.state().orders.map((order) => `S-${order.name.slice(1)}`)),
    );

    const next = await reportOf(second, await startRun(second, false));
    expect(next.counts).toMatchObject({
      matched: orders - changedTotals,
      missingRight: 0,
      missingLeft: 0,
      mismatched: changedTotals,
      newFindings: 0,
      resolvedFindings: missing,
      repairsRequested: 0,
    });
    // The changed totals stay open findings, first seen by the run that found them.
    const open = await api(second, "GET", `${reconciliation}/findings`);
    expect(open.json.findings).toHaveLength(changedTotals);
    expect(new Set(open.json.findings.map((finding: { firstSeenAt: string }) => finding.firstSeenAt))).toEqual(
      new Set([report.startedAt]),
    );
    await allRunsSucceeded(3 + 2 * missing, "nothing more");
  }, 240_000);
});
