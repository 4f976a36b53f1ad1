import type { Browser, BrowserContext, Locator, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sqliteBackend } from "../support/backends.ts";
import { launchBrowser, newContext, screenshot, seriousA11yViolations } from "../support/browser.ts";
import { type DashboardStack, startDashboardStack } from "../support/dashboard-stack.ts";

/** The page polls every 5 s and the machine may be loaded: generous, as waits for the system to act. */
const seen = { timeout: 60_000, intervals: [500] };

/**
 * An outage of the CRM as an operator lives it, in a real browser against one Tenon process with the sandbox and
 * live orders: the overview shows the CRM connection red, with the reason, while the CRM answers every request
 * with a 503; once the CRM is back and a request went through, green, saying that it recovered and after how
 * many failed requests. The connections page tells the same. Screenshots of both states are written.
 */
describe("the overview during a CRM outage", () => {
  let stack: DashboardStack;
  let browser: Browser;
  let context: BrowserContext | undefined;

  beforeAll(async () => {
    stack = await startDashboardStack(sqliteBackend);
    browser = await launchBrowser();
    stack.placeOrders(10);
    await stack.waitForRuns(
      "the first 10 orders' runs to succeed",
      (runs) => runs.filter((run) => run.integrationId === "order-to-cash" && run.status === "succeeded").length >= 10,
      90_000,
    );
  });

  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await stack?.stop();
  });

  /** The CRM's row in the overview's connections table (its name is the row's header). */
  function crmRow(page: Page): Locator {
    return page
      .locator(".health-group", { has: page.getByRole("heading", { name: "Connections", level: 3 }) })
      .locator("tbody tr", { has: page.locator("th", { hasText: /^crm$/ }) });
  }

  it("shows the CRM red during an injected outage, and green with its recovery after", async () => {
    context = await newContext(browser);
    const page = await context.newPage();
    await page.goto(stack.url);
    await page.getByLabel("API token").fill(stack.tokens.operator);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Overview", level: 1 }).waitFor();
    const row = crmRow(page);
    await expect.poll(() => row.getAttribute("data-health"), seen).toBe("green");

    stack.sandbox.setFaults("crm", { outageUntil: Date.now() + 60 * 60_000 });
    stack.placeOrders(12);
    await expect.poll(() => row.getAttribute("data-health"), seen).toBe("red");
    const outage = await row.locator("td.reason").innerText();
    expect(outage).toMatch(/^(circuit open after|failing:) \d+ failed requests in a row/);
    expect(await page.locator(".page-head-meta .health").innerText()).toContain("Failing");
    await screenshot(page, "outage-overview-red");
    expect(await seriousA11yViolations(page)).toEqual([]);

    // The connections page: the same verdict, and the run of failed requests since when.
    await page.getByRole("link", { name: "Connections", exact: true }).click();
    const card = page.locator(".connection-card[data-connection='crm']");
    await expect.poll(() => card.getAttribute("class"), seen).toContain("edge-red");
    const failed = card.locator(".fact", { has: page.getByText("Failed requests", { exact: true }) });
    await expect.poll(() => failed.innerText(), seen).toMatch(/\d+ in a row since/);
    await screenshot(page, "outage-connections-red");
    expect(await seriousA11yViolations(page)).toEqual([]);

    stack.sandbox.setFaults("crm", { outageUntil: null });
    await page.getByRole("link", { name: "Overview", exact: true }).click();
    await expect.poll(() => row.getAttribute("data-health"), { ...seen, timeout: 90_000 }).toBe("green");
    const recovered = await row.locator("td.reason").innerText();
    expect(recovered).toMatch(/^recovered \d+ (s|min) ago after \d+ failed requests$/);
    await screenshot(page, "outage-overview-recovered");

    // What the page shows is what the API says, and what the sandbox saw: every order got through in the end.
    const health = await (await page.context().request.get(`${stack.url}/api/health`)).json();
    const crm = health.connections.find((connection: { id: string }) => connection.id === "crm");
    expect(crm.failures.recoveredAt).not.toBeNull();
    expect(crm.failures.count).toBeGreaterThanOrEqual(3);
    expect(recovered).toContain(`after ${crm.failures.count} failed requests`);
    await stack.waitForRuns(
      "all 22 orders' runs to succeed",
      (runs) => runs.filter((run) => run.integrationId === "order-to-cash" && run.status === "succeeded").length >= 22,
      120_000,
    );

    await page.getByRole("link", { name: "Connections", exact: true }).click();
    await expect.poll(() => card.getAttribute("class"), seen).toContain("edge-green");
    await expect.poll(() => failed.innerText(), seen).toMatch(/recovered/);
    await screenshot(page, "outage-connections-recovered");
  });
});
