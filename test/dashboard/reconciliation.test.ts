import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { storeVsAccounting } from "../../examples/reconciliations.ts";
import type { AccountingSystem } from "../../src/sandbox/systems/accounting.ts";
import type { Reconciliation } from "../../src/sdk/define-reconciliation.ts";
import { sqliteBackend } from "../support/backends.ts";
import { launchBrowser, newContext, screenshot, seriousA11yViolations, signInWith } from "../support/browser.ts";
import { type DashboardStack, type PlacedOrder, startDashboardStack } from "../support/dashboard-stack.ts";
import { waitFor } from "../support/wait.ts";

const id = "store-vs-accounting";

/**
 * The Reconciliations pages in a real browser against one Tenon process and the sandbox: an invoice deleted in
 * accounting out of band (no webhook tells anyone), store-vs-accounting run from the page, the missing invoice
 * shown with both sides, repaired by an operator's selection (`repair.mode "approve"`), and the next run finding
 * it fixed. The tests share the stack and run in order.
 */
describe("the reconciliations pages in a browser", () => {
  let stack: DashboardStack;
  let browser: Browser;
  let orders: PlacedOrder[];
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    stack = await startDashboardStack(sqliteBackend, {
      // An operator approves repairs; orders are judged at once (each has its invoice before a run starts).
      // Typed against the compiled package (the examples import "tenon"), run from the sources (vitest's alias).
      reconciliations: [storeVsAccounting({ mode: "approve", settle: 0 }) as unknown as Reconciliation],
    });
    browser = await launchBrowser();
    orders = stack.placeOrders(6);
    await stack.waitForRuns(
      "the 6 orders' runs to succeed",
      (runs) => runs.filter((run) => run.integrationId === "order-to-cash" && run.status === "succeeded").length >= 6,
      90_000,
    );
  });

  afterAll(async () => {
    for (const context of contexts) await context.close();
    await browser?.close();
    await stack?.stop();
  });

  async function freshPage(size: "laptop" | "phone" = "laptop"): Promise<Page> {
    const context = await newContext(browser, size);
    contexts.push(context);
    return context.newPage();
  }

  const signIn = (page: Page, token: string) => signInWith(page, stack.url, token);

  const accounting = () => stack.sandbox.system<AccountingSystem>("accounting");
  const invoiceOf = (order: PlacedOrder) =>
    accounting()
      .state()
      .invoices.find((invoice) => invoice.docNumber === `S-${order.order_number}`);

  /** A person deletes the order's invoice in accounting's own UI: no webhook, no trace but its absence. */
  function deleteInvoiceByHand(order: PlacedOrder): void {
    const invoice = invoiceOf(order);
    if (!invoice) throw new Error(`order ${order.name} has no invoice to delete`);
    accounting().deleteInvoice(invoice.id);
  }

  /** The figure of the newest report (or the report shown) with this label: "Missing on the right" → "1". */
  async function figure(page: Page, label: string): Promise<string> {
    const value = page
      .locator(".report-figures .figure", { has: page.getByText(label, { exact: true }) })
      .locator("dd");
    return ((await value.textContent()) ?? "").trim();
  }

  async function waitForNewestReport(page: Page, number: number): Promise<void> {
    const heading = page.getByRole("heading", { name: new RegExp(`^Newest report: report ${number} complete`) });
    await heading.waitFor({ timeout: 60_000 });
  }

  it("finds an invoice deleted out of band, shows both sides, repairs the one selected, and the next run finds it fixed", async () => {
    const victim = orders[2] as PlacedOrder;
    deleteInvoiceByHand(victim);

    const page = await freshPage();
    await signIn(page, stack.tokens.operator);
    await page.getByRole("link", { name: "Reconciliations" }).click();
    await page.getByRole("heading", { name: "Reconciliations", level: 1 }).waitFor();
    const row = page.locator("table.reconciliations-table tbody tr", { hasText: id });
    await row.getByText("no run yet").waitFor();
    await screenshot(page, "reconciliations");
    expect(await seriousA11yViolations(page)).toEqual([]);

    await row.getByRole("link", { name: id }).click();
    await page.getByRole("heading", { name: id, level: 1 }).waitFor();
    await page.getByText("No run yet").waitFor();

    // A dry run reports the missing invoice and changes nothing: no finding opened, no invoice made.
    await page.getByRole("button", { name: "Dry run" }).click();
    await page.getByText(/Dry run started as run/).waitFor();
    await page
      .getByRole("heading", { name: /^Newest report: report 1 complete\s*dry run/ })
      .waitFor({ timeout: 60_000 });
    expect(await figure(page, "Missing on the right")).toBe("1");
    expect(await figure(page, "Matched")).toBe("5");
    await page.getByText("No open finding").waitFor();
    expect(invoiceOf(victim)).toBeUndefined();

    await page.getByRole("button", { name: "Run now" }).click();
    await waitForNewestReport(page, 2);
    expect(await figure(page, "Missing on the right")).toBe("1");
    const finding = page.locator("ol.findings > li", { hasText: `Missing on the right: ${victim.order_number}` });
    await finding.waitFor();
    const sides = await finding.locator(".finding-side").allInnerTexts();
    // The order as the store has it, beside accounting's absence of an invoice.
    expect(sides[0]).toContain(victim.name);
    expect(sides[0]).toContain(victim.email.toLowerCase());
    expect(sides[1]).toContain("Not there");
    expect(await finding.innerText()).toContain("waiting for an operator");
    await screenshot(page, "reconciliation-finding");
    expect(await seriousA11yViolations(page)).toEqual([]);

    await page.getByRole("checkbox", { name: `Missing on the right: ${victim.order_number}` }).check();
    await page.getByRole("button", { name: "Repair selected (1)" }).click();
    const dialog = page.getByRole("dialog", { name: "Repair 1 finding(s)?" });
    await dialog.waitFor();
    await dialog.getByRole("button", { name: "Repair" }).click();
    await page.getByText("1 repair(s) requested, 0 already requested before, 0 skipped.").waitFor();
    await finding.getByText("repair requested by api:ops").waitFor();
    // The repair replays the order's event: order-to-cash makes the invoice again, once.
    await waitFor("the deleted invoice to be made again", () => invoiceOf(victim), 60_000, 100);
    expect(accounting().state().counts.duplicateDocNumbers).toBe(0);

    await page.getByRole("button", { name: "Run now" }).click();
    await waitForNewestReport(page, 3);
    expect(await figure(page, "Missing on the right")).toBe("0");
    expect(await figure(page, "Matched")).toBe("6");
    expect(await page.locator(".report-figures").innerText()).toContain("1 resolved");
    await page.getByText("No open finding").waitFor();
    await screenshot(page, "reconciliation-resolved");

    // Report 2 keeps what it found.
    await page.locator("table.reports-table").getByRole("link", { name: "2", exact: true }).click();
    await page.getByRole("heading", { name: `${id} · report 2`, level: 1 }).waitFor();
    await page.locator("ol.findings > li", { hasText: `Missing on the right: ${victim.order_number}` }).waitFor();
    await screenshot(page, "reconciliation-report");
    expect(await seriousA11yViolations(page)).toEqual([]);

    await page.getByRole("link", { name: "Operator log" }).click();
    const entry = page.locator("table.log-table tbody tr", {
      hasText: "POST /api/reconciliations/:id/findings/repair",
    });
    await entry.waitFor();
    expect(await entry.innerText()).toContain("ops");
    expect(await entry.innerText()).toContain(`repair of 1 of 1 findings of reconciliation ${id}`);
    const runs = page.locator("table.log-table tbody tr", { hasText: "POST /api/reconciliations/:id/run" });
    expect(await runs.allInnerTexts()).toEqual([
      expect.stringContaining(`run of reconciliation ${id}`),
      expect.stringContaining(`run of reconciliation ${id}`),
      expect.stringContaining(`dry run of reconciliation ${id}`),
    ]);
  });

  it("shows a viewer the open findings but no run or repair button, and the API refuses the viewer a repair", async () => {
    const victim = orders[4] as PlacedOrder;
    deleteInvoiceByHand(victim);
    const started = await fetch(`${stack.url}/api/reconciliations/${id}/run`, {
      method: "POST",
      headers: { authorization: `Bearer ${stack.tokens.operator}`, "content-type": "application/json" },
      body: "{}",
    });
    expect(started.status).toBe(202);
    const { runId } = (await started.json()) as { runId: string };
    await stack.waitForRunStatus(runId, "succeeded", 60_000);

    const page = await freshPage();
    await signIn(page, stack.tokens.viewer);
    await page.goto(`${stack.url}/reconciliations/${id}`);
    const finding = page.locator("ol.findings > li", { hasText: `Missing on the right: ${victim.order_number}` });
    await finding.waitFor();
    expect(await page.getByRole("button", { name: /Run now|Dry run|Repair selected/ }).count()).toBe(0);
    expect(await page.getByRole("checkbox").count()).toBe(0);

    // What the page would send for an operator, sent anyway with the viewer's session cookie and CSRF token.
    const open = (await (
      await fetch(`${stack.url}/api/reconciliations/${id}/findings`, {
        headers: { authorization: `Bearer ${stack.tokens.viewer}` },
      })
    ).json()) as { findings: { id: string; key: string }[] };
    const findingId = open.findings.find((f) => f.key === String(victim.order_number))?.id;
    const api = page.context().request;
    const session = await (await api.get(`${stack.url}/auth/session`)).json();
    const refused = await api.post(`${stack.url}/api/reconciliations/${id}/findings/repair`, {
      headers: { "x-csrf-token": session.csrfToken },
      data: { findingIds: [findingId] },
    });
    expect(refused.status()).toBe(403);
    expect((await refused.json()).message).toContain("needs the operator role");
    const unrepaired = await stack.services.engine.storage.reconcile.getFindings([String(findingId)]);
    expect(unrepaired[0]?.repairRequestedAt).toBeNull();
  });

  it("reads at a laptop's and a phone's width, with no serious accessibility violation", async () => {
    const pages: [string, string][] = [
      ["/reconciliations", "Reconciliations"],
      [`/reconciliations/${id}`, id],
      [`/reconciliations/${id}/reports/2`, `${id} · report 2`],
    ];
    for (const size of ["laptop", "phone"] as const) {
      const page = await freshPage(size);
      await signIn(page, stack.tokens.operator);
      for (const [path, title] of pages) {
        await page.goto(`${stack.url}${path}`);
        await page.getByRole("heading", { name: title, level: 1 }).waitFor();
        await page.waitForLoadState("networkidle");
        const overflow = Number(await page.evaluate("document.documentElement.scrollWidth - window.innerWidth"));
        expect(overflow, `${path} is wider than the ${size} screen`).toBeLessThanOrEqual(0);
        const name = path.split("/").filter(Boolean).join("-");
        await screenshot(page, `${size}-${name}`);
        expect(await seriousA11yViolations(page), `${path} at ${size} width`).toEqual([]);
      }
    }
  });
});
