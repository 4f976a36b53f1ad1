import type { Browser, BrowserContext, Locator, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { createCrm } from "../../src/sandbox/systems/crm.ts";
import type { createStore } from "../../src/sandbox/systems/store.ts";
import { sqliteBackend } from "../support/backends.ts";
import { launchBrowser, newContext, screenshot, seriousA11yViolations } from "../support/browser.ts";
import { type DashboardStack, startDashboardStack } from "../support/dashboard-stack.ts";

/** The page polls every 5 s and the machine may be loaded: generous, as waits for the system to act. */
const seen = { timeout: 60_000, intervals: [500] };

/**
 * The CRM failing as an operator lives it, in a real browser against one Tenon process with the sandbox and live
 * orders: during an outage the overview shows the CRM connection red, with the reason, while the CRM answers every
 * request with a 503; once the CRM is back and a request went through, green, saying that it recovered and after
 * how many failed requests. The connections page tells the same, and shows the runs paused on revoked credentials
 * going back to work once new ones are stored. Screenshots of each state are written.
 */
describe("the dashboard while the CRM fails", () => {
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
    // A loaded machine starts the stack and drains the first orders slowly: more than the default hook timeout.
  }, 150_000);

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

    // Long enough for both pages to be seen red on a loaded machine. The CRM's 503s say until when, in Retry-After,
    // and Tenon holds the CRM's requests until then: an outage set for an hour would hold them an hour.
    stack.sandbox.setFaults("crm", { outageUntil: Date.now() + 45_000 });
    stack.placeOrders(12);
    await expect.poll(() => row.getAttribute("data-health"), seen).toBe("red");
    const outage = await row.locator("td.reason").innerText();
    expect(outage).toMatch(/^(circuit open after \d+ failed requests in a row|failing: )/);
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

    // The outage ends; the runs waiting for the CRM try again, and a request goes through.
    await page.getByRole("link", { name: "Overview", exact: true }).click();
    await expect.poll(() => row.getAttribute("data-health"), { ...seen, timeout: 120_000 }).toBe("green");
    const recovered = await row.locator("td.reason").innerText();
    expect(recovered).toMatch(/^recovered \d+ (s|min) ago after \d+ failed requests?$/);
    await screenshot(page, "outage-overview-recovered");

    // What the page shows is what the API says, and what the sandbox saw: every order got through in the end.
    const health = await (await page.context().request.get(`${stack.url}/api/health`)).json();
    const crm = health.connections.find((connection: { id: string }) => connection.id === "crm");
    expect(crm.failures.recoveredAt).not.toBeNull();
    // How many failed depends on how many were under way when the first 503 told the others to wait.
    expect(crm.failures.count).toBeGreaterThanOrEqual(1);
    expect(recovered).toContain(`after ${crm.failures.count} failed request`);
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

  it("shows the runs paused on the CRM's revoked credentials, and sees them resume once new ones are stored", async () => {
    const page = await (context as BrowserContext).newPage();
    await page.goto(`${stack.url}/connections`);
    const card = page.locator(".connection-card[data-connection='crm']");
    const paused = card.locator("[data-paused]");
    await expect.poll(() => paused.getAttribute("data-paused"), seen).toBe("0");

    stack.sandbox.setFaults("crm", { revokeCredentials: true });
    // Six customers of their own: none of the six runs waits behind another's (one customer's runs take turns).
    const store = stack.sandbox.system<ReturnType<typeof createStore>>("store");
    for (let n = 1; n <= 6; n += 1) store.placeOrder({ email: `paused.customer.${n}@example.com` });
    await stack.waitForRuns(
      "the 6 new orders to pause on the CRM",
      (runs) => runs.filter((run) => run.status === "paused" && run.waitingOn === "crm").length === 6,
      60_000,
    );
    await expect.poll(() => paused.getAttribute("data-paused"), seen).toBe("6");
    expect(await card.getAttribute("class")).toContain("edge-red");
    expect(await card.locator(".connection-reason").innerText()).toMatch(/^credentials rejected: /);
    const ongoing = card.locator(".incident-list li", { hasText: "Credentials rejected" }).first();
    await ongoing.getByText("ongoing").waitFor({ timeout: seen.timeout });
    await screenshot(page, "connections-paused");
    expect(await seriousA11yViolations(page)).toEqual([]);

    // The alert rules see it too (they look every 5 s here): an auth_failed alert fires, and is told to each channel.
    const firing = async () => {
      const answer = await page.context().request.get(`${stack.url}/api/alerts?status=firing`);
      const { alerts } = (await answer.json()) as { alerts: { rule: string; subject: string }[] };
      return alerts.some((alert) => alert.rule === "auth_failed" && alert.subject === "connection:crm");
    };
    await expect.poll(firing, seen).toBe(true);

    // Someone authorises the CRM again and stores the new grant, as `tenon connections set-credentials crm` does:
    // the paused runs go back to the queue, and the page shows the count going down and the resume.
    const { refreshToken } = stack.sandbox.system<ReturnType<typeof createCrm>>("crm").authorize();
    expect(await stack.services.connections.setCredentials("crm", { refreshToken })).toBe(6);
    await expect.poll(() => paused.getAttribute("data-paused"), seen).toBe("0");
    await expect
      .poll(() => card.locator(".fact", { hasText: "Paused runs" }).innerText(), seen)
      .toMatch(/6 resumed .*: new credentials were saved/);
    await stack.waitForRuns("the 6 resumed orders to succeed", (runs) =>
      runs.filter((run) => run.integrationId === "order-to-cash").every((run) => run.status === "succeeded"),
    );
    await expect.poll(() => card.getAttribute("class"), seen).toContain("edge-green");
    await screenshot(page, "connections-resumed");
  });

  it("shows where each notification of the CRM's alert went: delivered to every channel, as a run of its own", async () => {
    const page = await (context as BrowserContext).newPage();
    await page.goto(`${stack.url}/alerts`);
    await page.getByRole("heading", { name: "Alerts", level: 1 }).waitFor();
    await page.getByLabel("Show").selectOption("");
    // The example config's channels: ops (Slack, the sandbox's chat) and team (email, the sandbox's mail server).
    const deliveries = page
      .locator("table.deliveries-table tbody tr", { hasText: "connection crm: its credentials" })
      .filter({ hasText: "firing · notification 1" });
    for (const channel of ["ops", "team"]) {
      const delivered = deliveries.and(page.locator(`[data-channel="${channel}"][data-state="delivered"]`));
      await expect.poll(() => delivered.count(), seen).toBe(1);
    }
    const alert = page.locator("table.alerts-table tbody tr", { hasText: "connection crm: its credentials" }).first();
    await expect
      .poll(() => alert.innerText(), seen)
      .toMatch(/ops: delivered[\s\S]*team: delivered|team: delivered[\s\S]*ops: delivered/);
    await screenshot(page, "alerts-deliveries");
    expect(await seriousA11yViolations(page)).toEqual([]);
  });
});
