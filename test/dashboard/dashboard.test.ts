import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sqliteBackend } from "../support/backends.ts";
import { launchBrowser, newContext, screenshot, seriousA11yViolations, signInWith } from "../support/browser.ts";
import { type DashboardStack, dealStage, type PlacedOrder, startDashboardStack } from "../support/dashboard-stack.ts";

/**
 * The dashboard in a real browser (Debian's chromium, driven by playwright-core) against one Tenon process with
 * the sandbox and live traffic, over HTTP on loopback: what an operator does, start to finish. The tests share
 * the stack and run in order; each opens its own browser profile (cookies, cache).
 */
describe("the operator dashboard in a browser", () => {
  let stack: DashboardStack;
  let browser: Browser;
  let orders: PlacedOrder[];
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    stack = await startDashboardStack(sqliteBackend);
    browser = await launchBrowser();
    orders = stack.placeOrders(55);
    await stack.waitForRuns(
      "the 55 orders' runs to succeed",
      (runs) => runs.filter((run) => run.integrationId === "order-to-cash" && run.status === "succeeded").length >= 55,
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

  /** The header's "who am I": the name and role the session was opened with. */
  async function identity(page: Page): Promise<string> {
    // textContent: as written, not as CSS shows it (the role is set in capitals).
    return ((await page.locator(".identity").textContent()) ?? "").replace(/\s+/g, " ");
  }

  async function expectAccessible(page: Page): Promise<void> {
    expect(await seriousA11yViolations(page)).toEqual([]);
  }

  it("signs in with an operator token, shows the role, and the overview shows every part's health", async () => {
    const page = await freshPage();
    await page.goto(stack.url);
    await page.getByLabel("API token").waitFor();
    await screenshot(page, "sign-in");
    await expectAccessible(page);

    await page.getByLabel("API token").fill("not-a-token");
    await page.getByRole("button", { name: "Sign in" }).click();
    const refusal = page.getByRole("alert");
    await refusal.waitFor();
    expect(await refusal.innerText()).toContain("unknown or revoked");

    await page.getByLabel("API token").fill(stack.tokens.operator);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Overview", level: 1 }).waitFor();
    expect(await identity(page)).toMatch(/ops with the role operator/);

    const integrations = page.locator("table.health-table").first();
    await integrations.locator("tbody tr", { hasText: "order-to-cash" }).waitFor();
    const row = await integrations.locator("tbody tr", { hasText: "order-to-cash" }).innerText();
    expect(row).toMatch(/OK/);
    expect(row).toMatch(/\d+ run\(s\) succeeded in the last hour/);
    for (const part of ["Connections", "Webhook sources", "Polls"]) {
      await page.getByRole("heading", { name: part, level: 3 }).waitFor();
    }
    const connections = await page.locator(".health-group", { hasText: "Connections" }).innerText();
    for (const connection of ["crm", "accounting", "inventory", "email"]) expect(connections).toContain(connection);
    await page.locator(".chart canvas").first().waitFor();
    await screenshot(page, "overview");
    await expectAccessible(page);
  });

  it("loads the overview from a cold cache (time printed)", async () => {
    const page = await freshPage();
    const signedIn = await page.context().request.post(`${stack.url}/auth/session`, {
      data: { token: stack.tokens.operator },
    });
    expect(signedIn.status()).toBe(200);
    const started = performance.now();
    await page.goto(stack.url);
    await page.locator("table.health-table tbody tr", { hasText: "order-to-cash" }).waitFor();
    const firstLoadMs = performance.now() - started;
    // Strings, evaluated in the page: this file is type-checked without the DOM's types.
    const domContentLoaded = Number(
      await page.evaluate("performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd"),
    );
    const requests = (await page.evaluate(
      "performance.getEntriesByType('resource').map((r) => [new URL(r.name).pathname, Math.round(r.startTime), Math.round(r.responseEnd)])",
    )) as [string, number, number][];
    const timeline = requests.map(([path, start, end]) => `${path.replace(/-[\w-]{8}\./, ".")} ${start}-${end}`);
    console.log(
      `dashboard: overview first load with a cold cache ${Math.round(firstLoadMs)} ms to health shown ` +
        `(DOMContentLoaded at ${Math.round(domContentLoaded)} ms; requests, ms from navigation: ${timeline.join(", ")})`,
    );
    expect(firstLoadMs).toBeGreaterThan(0);
  });

  it("lists the seeded runs, filters them and pages with the API's cursor", async () => {
    const page = await freshPage();
    await signIn(page, stack.tokens.operator);
    await page.getByRole("link", { name: "Runs", exact: true }).click();
    await page.getByRole("heading", { name: "Runs", level: 1 }).waitFor();
    const rows = page.locator("table.runs-table tbody tr");
    await rows.filter({ hasText: "order-to-cash" }).first().waitFor();

    await page.getByLabel("Integration").selectOption("order-to-cash");
    await page.getByLabel("Status").selectOption("succeeded");
    await page.waitForURL(/integration=order-to-cash/);
    await expect
      .poll(() => rows.filter({ hasText: "order-to-cash" }).filter({ hasText: "succeeded" }).count())
      .toBe(50);
    expect(await rows.count()).toBe(50);
    const firstPage = await rows.locator("a").allInnerTexts();
    await screenshot(page, "runs");
    await expectAccessible(page);

    await page.getByRole("button", { name: "Older →" }).click();
    await page.getByText("Page 2").waitFor();
    // 55 orders, 50 a page: the rest are on the second page, none of the first page's again.
    await expect.poll(() => rows.count()).toBe(5);
    const secondPage = await rows.locator("a").allInnerTexts();
    expect(secondPage.filter((id) => firstPage.includes(id))).toEqual([]);
    await page.getByRole("button", { name: "← Newer" }).click();
    await page.getByText("Page 1").waitFor();
  });

  it("finds an order's runs and the requests they sent by searching order:<n>", async () => {
    const order = orders[7] as PlacedOrder;
    const page = await freshPage();
    await signIn(page, stack.tokens.operator);
    await page.goto(`${stack.url}/runs`);
    await page.getByLabel("Find by entity").fill(`order:${order.order_number}`);
    await page.getByRole("button", { name: "Search" }).click();
    await page.waitForURL(/q=order/);
    await page.getByRole("heading", { name: `Requests sent about order:${order.order_number}` }).waitFor();
    await expect.poll(() => page.locator("table.runs-table tbody tr").count()).toBe(1);
    expect(await page.locator("table.runs-table tbody tr").innerText()).toContain("order-to-cash");
    const exchanges = page.locator(".exchanges > li");
    await exchanges.first().waitFor();
    const requests = (await exchanges.allInnerTexts()).join("\n");
    expect(requests).toContain("/crm/v3/objects/contacts/batch/upsert");
    expect(requests).toContain("/invoice");
    await screenshot(page, "runs-search");
    await expectAccessible(page);
  });

  it("shows a failed run's error and its 4xx answer, and replayed after the fix it succeeds", async () => {
    const runId = await stack.sendLargeOrder({ email: "big.spender@example.com", order: 9001, amount: 12_500 });
    await stack.waitForRunStatus(runId, "failed");

    const page = await freshPage();
    await signIn(page, stack.tokens.operator);
    await page.getByRole("link", { name: "Dead letters" }).click();
    await page.getByLabel("Ended").selectOption("failed");
    await page.locator(`a[href="/runs/${runId}"]`).click();
    await page.getByRole("heading", { name: `Run ${runId}`, level: 1 }).waitFor();

    const error = await page
      .locator("section", { has: page.getByRole("heading", { name: "Error", exact: true }) })
      .innerText();
    expect(error).toContain('step "create-deal"');
    expect(error).toContain("answered 400");
    const refused = page.locator("details.exchange-failed");
    await refused.waitFor();
    const exchange = await refused.innerText();
    expect(exchange).toContain("400");
    expect(exchange).toContain("/crm/v3/objects/deals");
    expect(exchange).toContain("closed-won was not one of the allowed options");
    expect(exchange).toContain("[REDACTED]");
    const steps = await page.locator(".steps").innerText();
    expect(steps).toContain(`${runId}:create-deal`);
    await screenshot(page, "run-failed");
    await expectAccessible(page);

    // The fix is deployed (the stage's right name); the operator replays the run from the step that failed.
    dealStage.won = "closedwon";
    await page.getByRole("button", { name: "Replay from the failed step" }).click();
    const dialog = page.getByRole("dialog", { name: "Replay this run?" });
    await dialog.waitFor();
    await dialog.getByRole("button", { name: "Replay run" }).click();
    const result = page.locator(".action-results .notice-good");
    await result.waitFor();
    expect(await result.innerText()).toContain("it resumes at its first incomplete step");
    await page.locator(".page-head .badge", { hasText: "succeeded" }).waitFor({ timeout: 30_000 });
    // The contact step had succeeded: it was not run again; the deal step was, and it went through.
    const upsert = await page.locator(".step", { hasText: "upsert-contact" }).innerText();
    expect(upsert.match(/Attempt \d/g)).toEqual(["Attempt 1"]);
    await page.locator(".step", { hasText: "create-deal" }).getByText("succeeded", { exact: true }).waitFor();
    await screenshot(page, "run-replayed");

    await page.getByRole("link", { name: "Operator log" }).click();
    const entry = page.locator("table.log-table tbody tr", { hasText: "POST /api/runs/:id/replay" });
    await entry.waitFor();
    expect(await entry.innerText()).toContain("ops");
    expect(await entry.innerText()).toContain(runId);
    await screenshot(page, "operator-log");
    await expectAccessible(page);
  });

  it("shows a viewer no replay button, and the API refuses the viewer a replay", async () => {
    dealStage.won = "closed-won";
    const runId = await stack.sendLargeOrder({ email: "second.spender@example.com", order: 9002, amount: 9_900 });
    await stack.waitForRunStatus(runId, "failed");

    const page = await freshPage();
    await signIn(page, stack.tokens.viewer);
    expect(await identity(page)).toMatch(/wall with the role viewer/);
    expect(await page.getByRole("link", { name: "Operator log" }).count()).toBe(0);
    await page.goto(`${stack.url}/runs/${runId}`);
    await page.locator(".page-head .badge", { hasText: "failed" }).waitFor();
    await page.locator("details.exchange-failed").waitFor();
    expect(await page.getByRole("button", { name: /replay/i }).count()).toBe(0);

    // What the page would send, sent anyway with the viewer's session cookie and CSRF token.
    const api = page.context().request;
    const session = await (await api.get(`${stack.url}/auth/session`)).json();
    const refused = await api.post(`${stack.url}/api/runs/${runId}/replay`, {
      headers: { "x-csrf-token": session.csrfToken },
    });
    expect(refused.status()).toBe(403);
    expect((await refused.json()).message).toContain("needs the operator role");
    expect((await stack.services.engine.storage.getRun(runId))?.status).toBe("failed");
  });

  it("replays every failed run that matches from the dead letters page, and the operator log shows who did", async () => {
    // The viewer's run (order 9002) is still failed; two more fail the same way before the fix is deployed.
    dealStage.won = "closed-won";
    const more = [
      await stack.sendLargeOrder({ email: "third.spender@example.com", order: 9003, amount: 8_000 }),
      await stack.sendLargeOrder({ email: "fourth.spender@example.com", order: 9004, amount: 7_000 }),
    ];
    for (const runId of more) await stack.waitForRunStatus(runId, "failed");
    dealStage.won = "closedwon";

    const page = await freshPage();
    await signIn(page, stack.tokens.operator);
    await page.getByRole("link", { name: "Dead letters" }).click();
    await page.getByLabel("Ended").selectOption("failed");
    await page.getByLabel("Integration").selectOption("large-order-deal");
    await expect.poll(() => page.locator("table.runs-table tbody tr").count()).toBe(3);
    await page.getByRole("button", { name: "Count matching runs" }).click();
    await page.getByText("3 run(s) match.").waitFor();
    await page.getByRole("button", { name: "Replay all 3" }).click();
    const dialog = page.getByRole("dialog", { name: "Replay every failed run that matches?" });
    await dialog.getByText("of large-order-deal").waitFor();
    await dialog.getByRole("button", { name: "Replay all" }).click();
    await page.getByText("replayed 3, skipped 0, failed 0 of 3 selected.").waitFor();
    await stack.waitForRuns("the three replayed runs to succeed", (runs) =>
      runs.filter((run) => run.integrationId === "large-order-deal").every((run) => run.status === "succeeded"),
    );
    await page.getByText("No failed run matches").waitFor({ timeout: 15_000 });
    await screenshot(page, "dead-letters-replayed");

    await page.getByRole("link", { name: "Operator log" }).click();
    // Who started the replay, and how it ended; the count before it changed nothing and is not logged.
    const ended = page.locator("table.log-table tbody tr", { hasText: "bulk action ended" });
    await ended.waitFor();
    expect(await ended.innerText()).toMatch(
      /ops[\s\S]*status failed, integration large-order-deal: finished, replayed 3, skipped 0, failed 0 of 3/,
    );
    const entries = page.locator("table.log-table tbody tr", { hasText: "POST /api/runs/replay" });
    await expect.poll(() => entries.count()).toBe(1);
    expect(await entries.first().innerText()).toMatch(/ops[\s\S]*202[\s\S]*3 selected/);
  });

  it("shows a quarantined webhook with its reason and its body exactly as it arrived", async () => {
    const garbled = '{"id": 450789469, "email": "cut.off@example.com", "line_items": [';
    const eventId = await stack.sendUnparseableStoreWebhook(garbled);

    const page = await freshPage();
    await signIn(page, stack.tokens.operator);
    await page.getByRole("link", { name: "Events" }).click();
    await page.getByLabel("Status").selectOption("quarantined");
    const row = page.locator("table.events-table tbody tr", { has: page.locator(`a[href="/events/${eventId}"]`) });
    await row.waitFor();
    expect(await row.innerText()).toContain("quarantined");
    await page.locator(`a[href="/events/${eventId}"]`).click();
    const reason = page.locator("section", { has: page.getByRole("heading", { name: "Why it is quarantined" }) });
    await reason.waitFor();
    expect(await reason.innerText()).toContain("JSON");
    const body = await page
      .locator("section", { has: page.getByRole("heading", { name: "Body as received" }) })
      .innerText();
    expect(body).toContain(garbled);
    await page.getByRole("button", { name: "Judge it again" }).waitFor();
    await screenshot(page, "event-quarantined");
    await expectAccessible(page);
  });

  it("works with the keyboard alone: sign-in, the skip link, the menu, a run, a dialog", async () => {
    const page = await freshPage();
    const focused = async () => String(await page.evaluate("document.activeElement?.textContent ?? ''")).trim();
    await page.goto(stack.url);
    await page.getByLabel("API token").waitFor();
    await page.keyboard.press("Tab");
    expect(await page.evaluate("document.activeElement?.id")).toBe(
      await page.getByLabel("API token").getAttribute("id"),
    );
    await page.keyboard.type(stack.tokens.operator);
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: "Overview", level: 1 }).waitFor();

    await page.keyboard.press("Tab");
    expect(await focused()).toBe("Skip to content");
    for (let tabs = 0; tabs < 10 && (await focused()) !== "Runs"; tabs += 1) await page.keyboard.press("Tab");
    expect(await focused()).toBe("Runs");
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: "Runs", level: 1 }).waitFor();
    // A new page takes the focus to its content, as a page load would.
    expect(await page.evaluate("document.activeElement?.id")).toBe("main");

    const run = page.locator("table.runs-table tbody tr", { hasText: "large-order-deal" }).first().locator("a");
    const runId = String(await run.getAttribute("title"));
    await run.focus();
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: `Run ${runId}`, level: 1 }).waitFor();
    await page.getByRole("button", { name: "Replay the event" }).focus();
    await page.keyboard.press("Enter");
    const dialog = page.getByRole("dialog", { name: "Replay the event?" });
    await dialog.waitFor();
    await page.keyboard.press("Escape");
    await dialog.waitFor({ state: "hidden" });
    expect(await page.locator(".action-results .notice").count()).toBe(0);
  });

  it("every page reads at a laptop's and a phone's width, with no serious accessibility violation", async () => {
    for (const size of ["laptop", "phone"] as const) {
      const page = await freshPage(size);
      await signIn(page, stack.tokens.operator);
      const pages: [string, string][] = [
        ["/", "Overview"],
        ["/runs", "Runs"],
        ["/events", "Events"],
        ["/dead-letters", "Dead letters"],
        ["/connections", "Connections"],
        ["/alerts", "Alerts"],
        ["/operator-log", "Operator log"],
      ];
      for (const [path, title] of pages) {
        await page.goto(`${stack.url}${path}`);
        await page.getByRole("heading", { name: title, level: 1 }).waitFor();
        await page.waitForLoadState("networkidle");
        const overflow = Number(await page.evaluate("document.documentElement.scrollWidth - window.innerWidth"));
        expect(overflow, `${path} is wider than the ${size} screen`).toBeLessThanOrEqual(0);
        await screenshot(page, `${size}-${title.toLowerCase().replace(/ /g, "-")}`);
        expect(await seriousA11yViolations(page), `${path} at ${size} width`).toEqual([]);
      }
    }
  });
});
