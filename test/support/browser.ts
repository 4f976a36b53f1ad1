import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";

/** Debian's chromium (`.ci/run` installs it with apt-get when it is missing); playwright-core brings no browser. */
export const chromiumPath = process.env.TENON_TEST_CHROMIUM ?? "/usr/bin/chromium";
const screensDir = fileURLToPath(new URL("../../test-results/screens/", import.meta.url));
const axePath = createRequire(import.meta.url).resolve("axe-core/axe.min.js");

/** A headless chromium for a test file; close it in afterAll. */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
}

/** A fresh profile (no cookies, empty cache) at a laptop's width, or a phone's. */
export function newContext(browser: Browser, size: "laptop" | "phone" = "laptop"): Promise<BrowserContext> {
  const viewport = size === "laptop" ? { width: 1280, height: 860 } : { width: 390, height: 844 };
  return browser.newContext({
    viewport,
    ...(size === "phone" ? { deviceScaleFactor: 2, isMobile: true, hasTouch: true } : {}),
    // Times on the page are in the viewer's zone: pinned, so screenshots read the same on every machine.
    timezoneId: "Europe/Berlin",
    locale: "en-GB",
  });
}

/** Writes test-results/screens/<name>.png (the whole page), for a reviewer to look at; not committed. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(screensDir, { recursive: true });
  const path = `${screensDir}${name}.png`;
  await page.screenshot({ path, fullPage: true });
  return path;
}

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[] }[];
}

/**
 * Runs axe-core in the page and returns its serious and critical violations, each described with the elements
 * at fault, so a failing assertion says what to fix.
 */
export async function seriousA11yViolations(page: Page): Promise<string[]> {
  // Evaluated rather than added as a <script>: the dashboard's Content-Security-Policy (script-src 'self') would
  // refuse an inline script, and it stays on, so the tests see the page as a user's browser does.
  await page.evaluate(readFileSync(axePath, "utf8"));
  // A string evaluated in the page (this code is type-checked without the DOM's types): axe's own result shape.
  const violations = (await page.evaluate(`axe.run(document).then((result) => result.violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    nodes: v.nodes.map((n) => ({ target: n.target })),
  })))`)) as AxeViolation[];
  return violations
    .filter((violation) => violation.impact === "serious" || violation.impact === "critical")
    .map(
      (violation) =>
        `${violation.impact} ${violation.id}: ${violation.help} at ${violation.nodes
          .slice(0, 5)
          .map((node) => node.target.join(" "))
          .join(", ")}`,
    );
}

/** Signs in on the dashboard at `url` with an API token, as a person does, and waits for the overview. */
export async function signInWith(page: Page, url: string, token: string): Promise<void> {
  await page.goto(url);
  await page.getByLabel("API token").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Overview", level: 1 }).waitFor();
}
