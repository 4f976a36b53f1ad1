import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { paymentsVsAccounting } from "../../examples/reconciliations.ts";
import { startTenonServices, type TenonServices } from "../../src/app/tenon-services.ts";
import type { TenonConfig } from "../../src/config/define-config.ts";
import { readSettings } from "../../src/config/settings.ts";
import { createSandbox, type Sandbox } from "../../src/sandbox/create-sandbox.ts";
import { sandboxEnvironment } from "../../src/sandbox/sandbox-environment.ts";
import type { AccountingSystem } from "../../src/sandbox/systems/accounting.ts";
import { builtInSystems } from "../../src/sandbox/systems/index.ts";
import type { Payments } from "../../src/sandbox/systems/payments.ts";
import type { Reconciliation } from "../../src/sdk/define-reconciliation.ts";
import type { RunStatus } from "../../src/storage/contract.ts";
import { importConfigAfresh } from "../../src/testing/import-config.ts";
import { type Backend, backends, type TestDatabase } from "../support/backends.ts";
import { testVault } from "../support/connections.ts";
import { silentLogger } from "../support/engine.ts";
import { waitFor } from "../support/wait.ts";

const examplesConfig = fileURLToPath(new URL("../../examples/tenon.config.ts", import.meta.url));
const operatorToken = "operator-token-0123456789";
const reconciliation = "/api/reconciliations/payments-vs-accounting";
/** More than a page of Stripe's list (100). */
const paid = 105;
const lostWebhooks = 3;

describe.each(backends)("payments vs accounting on $name", (backend: Backend) => {
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
      integrations: examples.integrations.filter((integration) => integration.id === "payment-reconciled"),
      polls: [],
      // Typed against the compiled package (the examples import "tenon"), run from the sources (vitest's alias).
      reconciliations: [paymentsVsAccounting() as unknown as Reconciliation],
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
    sandbox.webhooks("payments").url = `${services.address}/hooks/payments`;
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

  async function allRunsSucceeded(services: TenonServices, count: number, what: string) {
    const runs = await waitFor(
      what,
      async () => {
        const byStatus = await services.engine.storage.countRunsByStatus();
        const all = Object.values(byStatus).reduce((sum, n) => sum + (n ?? 0), 0);
        const ended = (["succeeded", "failed", "dead"] as RunStatus[]).reduce((sum, s) => sum + (byStatus[s] ?? 0), 0);
        return all === count && ended === count ? byStatus : null;
      },
      120_000,
      50,
    );
    expect(runs).toEqual({ succeeded: count });
  }

  async function reconcile(services: TenonServices) {
    const started = await api(services, "POST", `${reconciliation}/run`, {});
    expect(started.status).toBe(202);
    await waitFor(
      "the reconciliation run to succeed",
      async () => (await services.engine.storage.getRun(started.json.runId))?.status === "succeeded",
      60_000,
      50,
    );
    const report = await api(services, "GET", `${reconciliation}/reports/latest?limit=1000`);
    expect(report.json.report.runId).toBe(started.json.runId);
    return report.json.report;
  }

  it("finds the succeeded payments accounting never heard of and the one no longer against its invoice, and records each missing one once", async () => {
    const { sandbox, services } = await start();
    const payments = sandbox.system<Payments>("payments");
    const books = sandbox.system<AccountingSystem>("accounting");
    const invoices = Array.from({ length: paid }, (_, i) => ({
      docNumber: `S-${2001 + i}`,
      email: `buyer${i}@example.com`,
      totalCents: 1_000 + i * 37,
    }));
    books.seedInvoices(invoices);
    // Each invoice is paid by card; the first three payments' webhooks never reach Tenon.
    sandbox.setFaults("payments", { dropWebhooksRate: 1 });
    for (const [i, invoice] of invoices.entries()) {
      if (i === lostWebhooks) sandbox.setFaults("payments", { dropWebhooksRate: null });
      payments.customerPays({
        amount: invoice.totalCents,
        currency: "usd",
        metadata: { invoice_number: invoice.docNumber },
      });
    }
    expect(payments.state().counters).toMatchObject({ succeeded: paid, webhooksDropped: lostWebhooks });
    // A checkout abandoned before payment: not succeeded, nothing to find in accounting.
    const abandoned = await fetch(`${sandbox.baseUrl("payments")}/v1/payment_intents`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${payments.credentials().token}`,
        "content-type": "application/x-www-form-urlencoded",
      },
      body: "amount=500&currency=usd",
    });
    expect(abandoned.status).toBe(200);
    let runs = paid - lostWebhooks;
    await allRunsSucceeded(services, runs, "payment-reconciled to record every payment whose webhook came");

    // Someone deletes an invoice that was paid: its payment stays, applied to nothing.
    const paidInvoice = books.state().invoices.find((invoice) => invoice.docNumber === "S-2011");
    const deleted = await fetch(`${sandbox.url}/_sandbox/accounting/invoices/${paidInvoice?.id}`, { method: "DELETE" });
    expect(deleted.status).toBe(204);

    const first = await reconcile(services);
    runs += 1;
    expect(first.counts).toMatchObject({
      leftRecords: paid,
      rightRecords: paid - lostWebhooks,
      matched: paid - lostWebhooks - 1,
      missingRight: lostWebhooks,
      missingLeft: 0,
      mismatched: 1,
      mismatchedByField: { amount: 0, invoice: 1 },
      repairsRequested: lostWebhooks,
    });
    const intents = payments.state().paymentIntents;
    const lost = intents.slice(0, lostWebhooks).map((intent) => intent.id);
    const byType = (type: string) =>
      first.findings
        .filter((finding: { type: string }) => finding.type === type)
        .map((finding: { key: string }) => finding.key)
        .sort();
    expect(byType("missing_right")).toEqual([...lost].sort());
    const mismatch = first.findings.find((finding: { type: string }) => finding.type === "mismatch");
    expect(mismatch).toMatchObject({ field: "invoice", left: { value: "S-2011" }, right: { value: null } });
    // Each repair emits the intent's payment_intent.succeeded again; payment-reconciled records the payment.
    runs += 2 * lostWebhooks;
    await allRunsSucceeded(services, runs, "the repairs and the payment-reconciled runs they started");

    const second = await reconcile(services);
    runs += 1;
    expect(second.counts).toMatchObject({
      rightRecords: paid,
      matched: paid - 1,
      missingRight: 0,
      mismatched: 1,
      newFindings: 0,
      resolvedFindings: lostWebhooks,
      repairsRequested: 0,
    });
    // Every succeeded payment is recorded exactly once: as many payments as intents, each matched by its own.
    expect(books.state().payments).toHaveLength(paid);
    await allRunsSucceeded(services, runs, "nothing more");
  });
});
