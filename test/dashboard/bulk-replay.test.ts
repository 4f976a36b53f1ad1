import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { quickbooks } from "../../src/connectors/quickbooks/index.ts";
import type { AccountingSystem } from "../../src/sandbox/systems/accounting.ts";
import { defineIntegration } from "../../src/sdk/define-integration.ts";
import { sqliteBackend } from "../support/backends.ts";
import { launchBrowser, newContext, screenshot, seriousA11yViolations, signInWith } from "../support/browser.ts";
import { type DashboardStack, startDashboardStack } from "../support/dashboard-stack.ts";

interface OrderToInvoice {
  order: number;
  email: string;
  amount: number;
}

/**
 * An invoice in accounting for each order. It reports a rejected credential in its own words (which order it was
 * for), so such a run uses its two attempts and ends dead: the dead letters of issue 16's "revoked token" story.
 * (An integration that lets the connector's AuthError through is paused instead, and resumes by itself once the
 * connection is re-authorised: test/connections/oauth-lifecycle.test.ts.)
 */
const invoiceOrder = defineIntegration<OrderToInvoice>({
  id: "invoice-order",
  trigger: { event: "order.invoice" },
  retries: { maxAttempts: 2, initialDelay: "10ms", maxDelay: "20ms" },
  async run({ event, step, connection }) {
    const books = quickbooks.client(connection("accounting"));
    const { order, email, amount } = event.payload;
    await step.run("create-invoice", async () => {
      try {
        const customer = await books.findOrCreateCustomer({ displayName: `Customer ${order}`, email });
        return await books.createInvoice({
          docNumber: `B-${order}`,
          customerId: customer.id,
          billEmail: email,
          lines: [{ description: `Order ${order}`, amount }],
        });
      } catch (error) {
        if ((error as Error).name !== "AuthError") throw error;
        throw new Error(`order ${order}: accounting refused the invoice: ${(error as Error).message}`);
      }
    });
  },
});

const orders = 200;

/**
 * Issue 16's bulk story in a real browser against one Tenon process and the sandbox: 200 runs die because the
 * accounting token was revoked; the operator re-authorises through the Connections page and the sandbox's consent
 * page, replays all 200 from the dead-letter page while a progress bar follows the job, and the operator log says
 * who did it. Every invoice exists once in the sandbox.
 */
describe("bulk replay in the dashboard", () => {
  let stack: DashboardStack;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const rateLimit = process.env.ACCOUNTING_RATE_LIMIT;

  beforeAll(async () => {
    // 200 invoices at once: QuickBooks' 500 requests a minute would make the replay wait, which is not its subject.
    process.env.ACCOUNTING_RATE_LIMIT = "off";
    stack = await startDashboardStack(sqliteBackend, { integrations: [invoiceOrder] });
    browser = await launchBrowser();
  });

  afterAll(async () => {
    for (const context of contexts) await context.close();
    await browser?.close();
    await stack?.stop();
    if (rateLimit === undefined) delete process.env.ACCOUNTING_RATE_LIMIT;
    else process.env.ACCOUNTING_RATE_LIMIT = rateLimit;
  });

  async function freshPage(): Promise<Page> {
    const context = await newContext(browser);
    contexts.push(context);
    return context.newPage();
  }

  async function menu(page: Page, name: string): Promise<void> {
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name, exact: true }).click();
  }

  const accounting = () => stack.sandbox.system<AccountingSystem>("accounting");
  const invoiceRuns = () => stack.services.engine.storage.listRuns({ integrationId: "invoice-order", limit: 1000 });

  it("replays 200 runs a revoked token killed, after re-authorising in the browser; each invoice once", async () => {
    stack.sandbox.setFaults("accounting", { revokeCredentials: true });
    for (let order = 1; order <= orders; order += 1) {
      await stack.services.engine.send({
        type: "order.invoice",
        payload: { order, email: `buyer${order}@example.com`, amount: 100 + order },
      });
    }
    await stack.waitForRuns(
      `the ${orders} invoice runs to die`,
      (runs) => runs.filter((run) => run.integrationId === "invoice-order" && run.status === "dead").length === orders,
      90_000,
    );
    const storage = stack.services.engine.storage;
    expect((await storage.connections.getConnection("accounting"))?.status).toBe("auth_failed");
    expect(accounting().state().counts.invoices).toBe(0);

    const page = await freshPage();
    await signInWith(page, stack.url, stack.tokens.operator);
    await menu(page, "Connections");
    const row = page.locator(".connection-card[data-connection='accounting']");
    await row
      .getByText(/auth.failed/)
      .first()
      .waitFor();
    // Through Tenon's /oauth/accounting/start to the sandbox's consent page, as a person goes to Intuit's.
    await row.getByRole("link", { name: "Re-authorise" }).click();
    await page.getByRole("heading", { name: /Authorise access to Accounting/ }).waitFor();
    await screenshot(page, "bulk-consent");
    await page.getByRole("button", { name: "Approve" }).click();
    await page.waitForURL(`${stack.url}/connections`);
    await page.getByRole("heading", { name: "Connections", level: 1 }).waitFor();
    await row.getByText("oauth2: active").first().waitFor();
    expect((await storage.connections.getConnection("accounting"))?.status).toBe("active");
    // Nothing resumed by itself: these runs are dead, not paused.
    expect((await invoiceRuns()).filter((run) => run.status === "dead").length).toBe(orders);

    await menu(page, "Dead letters");
    await page.getByRole("heading", { name: "Dead letters", level: 1 }).waitFor();
    await page.getByLabel("Integration").selectOption("invoice-order");
    const filtered = page.waitForResponse((response) => /error=accounting(\+|%20)refused/.test(response.url()));
    await page.getByLabel("Error contains").fill("accounting refused");
    await filtered;
    await expect.poll(() => page.locator("table.runs-table tbody tr").count(), { timeout: 15_000 }).toBe(50);
    await page.getByRole("button", { name: "Count matching runs" }).click();
    await page.getByText(`${orders} run(s) match.`).waitFor();
    await page.getByRole("button", { name: `Replay all ${orders}` }).click();
    const dialog = page.getByRole("dialog", { name: "Replay every dead run that matches?" });
    await dialog.getByText('whose error contains "accounting refused"').waitFor();
    await dialog.getByRole("button", { name: "Replay all" }).click();

    const progress = page.getByRole("progressbar", { name: `Replay of ${orders} runs` });
    await progress.waitFor();
    expect(await progress.getAttribute("aria-valuemax")).toBe(String(orders));
    await screenshot(page, "bulk-dead-letters-progress");
    await expect.poll(() => progress.getAttribute("aria-valuenow"), { timeout: 30_000 }).toBe(String(orders));
    await page.getByText(`replayed ${orders}, skipped 0, failed 0 of ${orders} selected.`).waitFor();
    expect(await seriousA11yViolations(page)).toEqual([]);

    await stack.waitForRuns(
      `the ${orders} replayed runs to succeed`,
      (runs) =>
        runs.filter((run) => run.integrationId === "invoice-order" && run.status === "succeeded").length === orders,
      90_000,
    );
    const [job] = await storage.bulkActions.listBulkActions({ now: Date.now(), limit: 1, kind: "replay-runs" });
    console.log(
      `bulk replay: ${job?.total} runs requeued by the job in ${(job?.finishedAt ?? 0) - (job?.startedAt ?? 0)} ms (stored start to end)`,
    );
    const books = accounting().state();
    const docNumbers = books.invoices.map((invoice) => invoice.docNumber).filter((doc) => doc.startsWith("B-"));
    expect(docNumbers.length).toBe(orders);
    expect(new Set(docNumbers).size).toBe(orders);
    expect(books.counts.duplicateDocNumbers).toBe(0);
    for (const run of await invoiceRuns()) {
      const replays = (await storage.listRunHistory(run.id)).filter((entry) => entry.kind === "replay");
      expect(replays.map((entry) => entry.actor)).toEqual(["api:ops"]);
    }
    await page.getByText("No dead run matches").waitFor({ timeout: 15_000 });
    const recent = page.locator("table.bulk-table tbody tr").first();
    await expect
      .poll(() => recent.innerText(), { timeout: 15_000 })
      .toMatch(/ops[\s\S]*200 run\(s\)[\s\S]*finished[\s\S]*200 of 200/);
    await screenshot(page, "bulk-dead-letters-replayed");

    await menu(page, "Operator log");
    const ended = page.locator("table.log-table tbody tr", { hasText: "bulk action ended" });
    await ended.waitFor();
    expect(await ended.innerText()).toMatch(/ops[\s\S]*replayed 200, skipped 0, failed 0 of 200/);
    const started = page.locator("table.log-table tbody tr", { hasText: "POST /api/runs/replay" });
    expect(await started.count()).toBe(1);
    expect(await started.innerText()).toMatch(/ops[\s\S]*202[\s\S]*200 selected/);
    await screenshot(page, "bulk-operator-log");
  });

  it("replays quarantined events the config takes now from the events page, with the same progress", async () => {
    const engine = stack.services.engine;
    for (let order = 501; order <= 505; order += 1) {
      await engine.quarantine({
        source: "api",
        type: "order.invoice",
        payload: { order, email: `late${order}@example.com`, amount: order },
        reason: "held back by a config that did not know this type yet",
      });
    }
    const page = await freshPage();
    await signInWith(page, stack.url, stack.tokens.operator);
    await page.goto(`${stack.url}/events?status=quarantined&source=api`);
    await page.getByRole("heading", { name: "Events", level: 1 }).waitFor();
    await expect.poll(() => page.locator("table.events-table tbody tr").count(), { timeout: 15_000 }).toBe(5);
    await page.getByRole("button", { name: "Count matching events" }).click();
    await page.getByText("5 event(s) match.").waitFor();
    expect(await seriousA11yViolations(page)).toEqual([]);
    await page.getByRole("button", { name: "Replay all 5" }).click();
    await page
      .getByRole("dialog", { name: "Replay every quarantined event that matches?" })
      .getByRole("button", {
        name: "Replay all",
      })
      .click();
    const progress = page.getByRole("progressbar", { name: "Replay of 5 events" });
    await expect.poll(() => progress.getAttribute("aria-valuenow"), { timeout: 30_000 }).toBe("5");
    await page.getByText("replayed 5, skipped 0, failed 0 of 5 selected.").waitFor();
    await screenshot(page, "bulk-events-replayed");
    expect((await engine.storage.countEventsByStatus()).quarantined ?? 0).toBe(0);
    await stack.waitForRuns(
      "the five events' runs to succeed",
      (runs) =>
        runs.filter((run) => run.integrationId === "invoice-order" && run.status === "succeeded").length === orders + 5,
    );
  });

  it("shows a viewer no bulk replay, and the API refuses the viewer one (403)", async () => {
    const page = await freshPage();
    await signInWith(page, stack.url, stack.tokens.viewer);
    await page.goto(`${stack.url}/dead-letters`);
    await page.getByRole("heading", { name: "Dead letters", level: 1 }).waitFor();
    await page.waitForLoadState("networkidle");
    expect(await page.getByRole("button", { name: /Count matching|Replay all/ }).count()).toBe(0);
    expect(await page.getByRole("heading", { name: "Recent bulk replays" }).count()).toBe(0);
    await page.goto(`${stack.url}/events?status=quarantined`);
    await page.getByRole("heading", { name: "Events", level: 1 }).waitFor();
    await page.waitForLoadState("networkidle");
    expect(await page.getByRole("button", { name: /Count matching|Replay all/ }).count()).toBe(0);

    const api = page.context().request;
    const session = await (await api.get(`${stack.url}/auth/session`)).json();
    for (const path of ["/api/runs/replay", "/api/events/replay"]) {
      const refused = await api.post(`${stack.url}${path}`, {
        headers: { "x-csrf-token": session.csrfToken },
        data: { status: path === "/api/runs/replay" ? "dead" : "quarantined", dryRun: true },
      });
      expect([path, refused.status()]).toEqual([path, 403]);
    }
  });
});
