import { fileURLToPath } from "node:url";
import { expect } from "vitest";
import { startTenonServices, type TenonServices } from "../../src/app/tenon-services.ts";
import type { TenonConfig } from "../../src/config/define-config.ts";
import { loadConfig } from "../../src/config/load-config.ts";
import { readSettings } from "../../src/config/settings.ts";
import { createSandbox, type Sandbox } from "../../src/sandbox/create-sandbox.ts";
import { sandboxEnvironment } from "../../src/sandbox/sandbox-environment.ts";
import type { createAccounting } from "../../src/sandbox/systems/accounting.ts";
import type { createCrm } from "../../src/sandbox/systems/crm.ts";
import type { createEmail } from "../../src/sandbox/systems/email.ts";
import { builtInSystems } from "../../src/sandbox/systems/index.ts";
import type { createInventory } from "../../src/sandbox/systems/inventory.ts";
import type { createStore } from "../../src/sandbox/systems/store.ts";
import type { Backend } from "../support/backends.ts";
import { testVault } from "../support/connections.ts";
import { silentLogger } from "../support/engine.ts";
import { waitFor } from "../support/wait.ts";

const examplesConfig = fileURLToPath(new URL("../../examples/tenon.config.ts", import.meta.url));
const apiSystems = ["crm", "accounting", "inventory", "email"];

/** Outbound pace per connection in the end-to-end tests: faster than the providers' throttles, still limited. */
export const testPace: Readonly<Record<string, string>> = { crm: "100/s", accounting: "50/s", inventory: "100/s" };

export interface ScenarioReport {
  orders: number;
  injectedFaults: Record<string, Readonly<Record<string, number>>>;
  pausedRunsSeen: number;
  elapsedMs: number;
}

/**
 * The must-show of issue 5: `orders` orders through the order-to-cash example while every API it
 * calls answers 20% 5xx (half of them after processing the request) and 10% 429, the CRM is down for
 * 30 s, and the accounting token is revoked and restored by a new authorisation. Then every order
 * must have exactly one CRM contact (by email), one invoice, one stock decrement per line and one
 * email, checked in the sandbox's own records, and no run may be dead or failed.
 */
export async function runOrderToCashScenario(backend: Backend, orders: number): Promise<ScenarioReport> {
  const startedAt = Date.now();
  // Shopify's retry schedule sixty times faster: a webhook Tenon could not take under this load
  // comes back in a second, not a minute, so the scenario's length measures Tenon, not the wait.
  const sandbox = createSandbox({ systems: builtInSystems, webhookTimeScale: 60 });
  await sandbox.listen({ host: "127.0.0.1", port: 0 });
  const db = backend.create();
  let services: TenonServices | undefined;
  try {
    Object.assign(process.env, sandboxEnvironment(sandbox, Object.keys(builtInSystems)));
    const examples = await loadConfig(examplesConfig);
    const orderToCash = examples.integrations.filter((integration) => integration.id === "order-to-cash");
    // The connectors pace to the providers' documented throttles (QuickBooks 500 a minute, HubSpot 100 per 10 s,
    // the inventory API 20/s), which would stretch 1,000 orders to many minutes of waiting; the sandbox companies
    // do not throttle, so the test paces faster. Its 429s still come from the sandbox's injected faults.
    const connections = { ...examples.connections };
    for (const [name, rateLimit] of Object.entries(testPace)) {
      const connection = connections[name];
      if (connection) connections[name] = { ...connection, rateLimit };
    }
    // Without the examples' alerts: the scenario counts every run there is, and alert deliveries are runs too.
    const { alerts: _alerts, ...withoutAlerts } = examples;
    const config: TenonConfig = { ...withoutAlerts, integrations: orderToCash, polls: [], connections };
    const settings = readSettings({ TENON_HTTP_PORT: "0", TENON_LOG_LEVEL: "silent" });
    services = await startTenonServices({
      config,
      settings,
      storage: db.open(),
      vault: testVault(),
      logger: silentLogger,
    });
    sandbox.webhooks("store").url = `${services.address}/hooks/store`;
    for (const system of apiSystems) {
      sandbox.setFaults(system, { errorRate: 0.2, errorTiming: "either", rateLimitRate: 0.1, retryAfterSeconds: 1 });
    }

    const placed = await placeOrders(sandbox, orders);
    const pausedRunsSeen = await actOutIncidents(sandbox, services, orders);
    const storage = services.engine.storage;
    await waitFor(
      `all ${orders} runs to finish`,
      async () => {
        const runs = await storage.countRunsByStatus();
        const finished = (runs.succeeded ?? 0) + (runs.failed ?? 0) + (runs.dead ?? 0);
        return finished >= orders;
      },
      10 * 60_000,
      500,
    );
    const runs = await storage.countRunsByStatus();
    const unsuccessful = [
      ...(await storage.listRuns({ status: "dead" })),
      ...(await storage.listRuns({ status: "failed" })),
    ];
    const reasons = unsuccessful.map(
      (run) => `${run.id} ${run.status} after ${run.failures} failures: ${run.lastError}`,
    );
    expect(runs, reasons.join("\n")).toEqual({ succeeded: orders });
    expectExactlyOnceEffects(sandbox, placed);
    return {
      orders,
      injectedFaults: Object.fromEntries(apiSystems.map((system) => [system, { ...sandbox.injectedFaults(system) }])),
      pausedRunsSeen,
      elapsedMs: Date.now() - startedAt,
    };
  } finally {
    await sandbox.close();
    await services?.stop(5_000);
    await db.cleanup();
  }
}

export type PlacedOrder = ReturnType<ReturnType<typeof createStore>["placeOrder"]>;

/** Customers order at about 100 a second; each order's webhook reaches Tenon through the sandbox's sender. */
async function placeOrders(sandbox: Sandbox, count: number): Promise<PlacedOrder[]> {
  const store = sandbox.system<ReturnType<typeof createStore>>("store");
  const placed: PlacedOrder[] = [];
  for (let i = 0; i < count; i += 1) {
    placed.push(store.placeOrder());
    if (i % 10 === 9) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return placed;
}

/**
 * Once a tenth of the orders are done: the CRM goes down for 30 s. During it, the accounting system
 * revokes every token; once Tenon has marked the connection auth_failed (its runs pause), a person
 * authorises again and the new refresh token is stored. Returns the most runs seen paused at once.
 */
async function actOutIncidents(sandbox: Sandbox, services: TenonServices, orders: number): Promise<number> {
  const storage = services.engine.storage;
  await waitFor(
    "a tenth of the orders to succeed",
    async () => {
      const runs = await storage.countRunsByStatus();
      return (runs.succeeded ?? 0) >= orders / 10;
    },
    5 * 60_000,
    200,
  );
  sandbox.setFaults("crm", { outageUntil: Date.now() + 30_000 });
  sandbox.setFaults("accounting", { revokeCredentials: true });
  let pausedRunsSeen = 0;
  await waitFor(
    "the accounting connection to be marked auth_failed and runs paused",
    async () => {
      const accounting = await services.connections.describe("accounting");
      const runs = await storage.countRunsByStatus();
      pausedRunsSeen = Math.max(pausedRunsSeen, runs.paused ?? 0);
      return accounting?.status === "auth_failed" && pausedRunsSeen > 0;
    },
    2 * 60_000,
    100,
  );
  const { refreshToken } = sandbox.system<ReturnType<typeof createAccounting>>("accounting").authorize();
  await services.connections.setCredentials("accounting", { refreshToken });
  return pausedRunsSeen;
}

/** Every order's effects, counted in the sandbox systems' records: one each, never two, never none. */
export function expectExactlyOnceEffects(sandbox: Sandbox, placed: PlacedOrder[]): void {
  const crm = sandbox.system<ReturnType<typeof createCrm>>("crm").state();
  const books = sandbox.system<ReturnType<typeof createAccounting>>("accounting").state();
  const stock = sandbox.system<ReturnType<typeof createInventory>>("inventory").state();
  const mail = sandbox.system<ReturnType<typeof createEmail>>("email").messages();

  const emails = new Set(placed.map((order) => String(order.email).toLowerCase()));
  const contactEmails = Object.values(crm.contacts).map((contact) => String(contact.properties.email).toLowerCase());
  expect(crm.counts.contacts).toBe(emails.size);
  expect(new Set(contactEmails)).toEqual(emails);

  const invoiceNumbers = books.invoices.map((invoice) => invoice.docNumber);
  expect(invoiceNumbers.length).toBe(placed.length);
  expect(new Set(invoiceNumbers)).toEqual(new Set(placed.map((order) => `S-${order.order_number}`)));

  const adjustments = new Map<string, number>();
  for (const adjustment of stock.adjustments) {
    const key = `${adjustment.reference}|${adjustment.sku}|${adjustment.delta}`;
    adjustments.set(key, (adjustments.get(key) ?? 0) + 1);
  }
  const expectedAdjustments = new Map<string, number>();
  for (const order of placed) {
    for (const line of order.line_items) {
      const key = `order ${order.name}|${line.sku}|${-line.quantity}`;
      expectedAdjustments.set(key, (expectedAdjustments.get(key) ?? 0) + 1);
    }
  }
  expect(adjustments).toEqual(expectedAdjustments);

  const mailedOrders = mail.map((message) => message.Metadata.order);
  expect(mailedOrders.length).toBe(placed.length);
  expect(new Set(mailedOrders)).toEqual(new Set(placed.map((order) => String(order.order_number))));
}
