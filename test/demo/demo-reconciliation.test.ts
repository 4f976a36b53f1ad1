import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { storeVsAccounting } from "../../examples/reconciliations.ts";
import { loadConfig } from "../../src/config/load-config.ts";
import { readSettings } from "../../src/config/settings.ts";
import { demoReconcileSchedule, scheduleReconciliations } from "../../src/demo/demo-reconciliations.ts";
import { type DevEnvironment, startDevEnvironment } from "../../src/demo/dev-environment.ts";
import { engineSummary, readEngineCounts } from "../../src/demo/engine-summary.ts";
import { deleteAnInvoiceByHand, placeOrderLosingItsWebhook } from "../../src/demo/out-of-band.ts";
import { requestReconciliationRun } from "../../src/reconciliation/reconciliations.ts";
import type { AccountingSystem } from "../../src/sandbox/systems/accounting.ts";
import type { Store } from "../../src/sandbox/systems/store.ts";
import type { ReconcileListContext, Reconciliation } from "../../src/sdk/define-reconciliation.ts";
import { testVault } from "../support/connections.ts";
import { silentLogger } from "../support/engine.ts";
import { waitFor } from "../support/wait.ts";

/**
 * The demo's out-of-band drift and its repair: the store loses an order's webhook and a person deletes an
 * invoice by hand (what the demo's traffic does now and then); the reconciliation, scheduled by the demo, finds
 * both invoices missing and has order-to-cash make them again, and the demo's summary shows it. Runs are started
 * here rather than waited for on the minute; the example's settling time (2 min) is 0 here, the orders having
 * their invoices before a run starts.
 */
const examplesConfig = fileURLToPath(new URL("../../examples/tenon.config.ts", import.meta.url));
const before = { ...process.env };
let dev: DevEnvironment;

beforeAll(async () => {
  dev = await startDevEnvironment({
    purpose: "the demo reconciliation test",
    loadConfig: async () => {
      const examples = await loadConfig(examplesConfig);
      // Typed against the compiled package (the examples import "tenon"), run from the sources (vitest's alias).
      const judgedAtOnce = storeVsAccounting({ settle: 0 }) as unknown as Reconciliation;
      return scheduleReconciliations({ ...examples, reconciliations: [judgedAtOnce] }, demoReconcileSchedule);
    },
    databasePath: ":memory:",
    settings: readSettings({ TENON_HTTP_PORT: "0", TENON_LOG_LEVEL: "silent" }),
    logger: silentLogger,
    sandboxPort: 0,
    webhookTimeScale: 60,
    vault: testVault(),
  });
});

afterAll(async () => {
  await dev?.stop(10_000);
  for (const name of Object.keys(process.env)) if (!(name in before)) delete process.env[name];
  Object.assign(process.env, before);
});

async function summaryBlock(): Promise<string> {
  const counts = await readEngineCounts(dev.services);
  return engineSummary(counts, dev.sandbox, { title: "Tenon demo", elapsedMs: 0, extra: [] }).block.join("\n");
}

/** Starts a run of store-vs-accounting now and returns its report once complete. */
async function reconcile() {
  const storage = dev.services.engine.storage;
  const accepted = await requestReconciliationRun(dev.services.engine.send, "store-vs-accounting", {
    dryRun: false,
    requestedBy: "test",
  });
  const runId = accepted.runIds[0];
  return waitFor(
    `reconciliation run ${runId} to complete its report`,
    async () => {
      const reports = await storage.reconcile.listReports("store-vs-accounting", 20);
      return reports.find((report) => report.runId === runId && report.status === "complete");
    },
    90_000,
    100,
  );
}

/**
 * The demo's schedule fires on each minute. A tick between a record's drift and the run this test starts could
 * repair it first, so each step that drifts the systems starts well clear of the next tick.
 */
function clearOfTheNextTick() {
  return waitFor(
    "a moment well before the next minute",
    () => {
      const second = new Date().getSeconds();
      return second >= 2 && second <= 25;
    },
    70_000,
    200,
  );
}

describe("the demo's reconciliation", () => {
  it("runs every minute, finds the invoice deleted by hand and the one never made, repairs both, and says so", async () => {
    // What the engine was started with: the example's on-demand reconciliation, scheduled each minute.
    expect(dev.config.reconciliations?.map((r) => [r.id, r.schedule])).toEqual([["store-vs-accounting", "* * * * *"]]);

    const store = dev.sandbox.system<Store>("store");
    const accounting = dev.sandbox.system<AccountingSystem>("accounting");
    const invoiced = () => new Set(accounting.state().invoices.map((invoice) => invoice.docNumber));
    await clearOfTheNextTick();
    const orders = [store.placeOrder(), store.placeOrder(), store.placeOrder()];
    const numbers = orders.map((order) => `S-${order.order_number}`);
    await waitFor("the three orders' invoices", () => numbers.every((number) => invoiced().has(number)), 60_000, 100);

    await clearOfTheNextTick();
    const lost = placeOrderLosingItsWebhook(dev.sandbox);
    const deleted = deleteAnInvoiceByHand(
      dev.sandbox,
      orders.map((order) => order.order_number),
    );
    expect(numbers).toContain(deleted);
    expect(store.state().counters.webhooksDropped).toBe(1);
    expect(invoiced().has(String(deleted))).toBe(false);

    const found = await reconcile();
    expect(found.counts).toMatchObject({ matched: 2, missingRight: 2, missingLeft: 0, mismatched: 0 });
    const open = await dev.services.engine.storage.reconcile.listOpenFindings({
      reconciliationId: "store-vs-accounting",
      limit: 10,
    });
    expect(open.map((finding) => [finding.type, `S-${finding.key}`, finding.repairRequestedBy]).sort()).toEqual(
      [
        ["missing_right", deleted, "auto"],
        ["missing_right", `S-${lost.order_number}`, "auto"],
      ].sort(),
    );
    await waitFor(
      "both invoices made again",
      () => invoiced().has(String(deleted)) && invoiced().has(`S-${lost.order_number}`),
      60_000,
      100,
    );

    const fixed = await reconcile();
    expect(fixed.counts).toMatchObject({ matched: 4, missingRight: 0, missingLeft: 0, mismatched: 0 });
    expect(accounting.state().counts.duplicateDocNumbers).toBe(0);
    // Exactly 2, unless a tick caught the first orders on their way to their invoices (then repaired as well).
    const summary = await summaryBlock();
    const row =
      /reconcile {4}store-vs-accounting: (\d+) missing found, (\d+) repaired, 0 open · (last run|run under way)/.exec(
        summary,
      );
    expect(row, summary).not.toBeNull();
    expect(Number(row?.[1])).toBeGreaterThanOrEqual(2);
    expect(row?.[2]).toBe(row?.[1]);
  });

  it("leaves orders too young to judge out on both sides: their invoices are not invoices without an order", async () => {
    const store = dev.sandbox.system<Store>("store");
    const accounting = dev.sandbox.system<AccountingSystem>("accounting");
    const invoiced = () => new Set(accounting.state().invoices.map((invoice) => invoice.docNumber));
    const placeAndInvoice = async (what: string) => {
      const placed = [store.placeOrder(), store.placeOrder()].map((order) => String(order.order_number));
      await waitFor(what, () => placed.every((number) => invoiced().has(`S-${number}`)), 60_000, 100);
      return placed;
    };
    const settled = await placeAndInvoice("the settled orders' invoices");
    // The store's times are to the second: the young orders come a second and more after this moment.
    const settledBefore = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const young = await placeAndInvoice("the young orders' invoices");

    // Judged as of a minute later with a minute to settle: the first two are old enough, the last two are not.
    const example = storeVsAccounting({ settle: "1m" }) as unknown as Reconciliation<unknown, unknown>;
    const keys = async (side: "left" | "right") => {
      const found: string[] = [];
      let cursor: string | null = null;
      do {
        const context: ReconcileListContext = {
          cursor,
          since: null,
          connection: (name) => dev.services.connections.client(name),
          asOf: settledBefore + 60_000,
        };
        const page = await example[side].list(context);
        for (const record of page.records) found.push(String(example.match[side](record)));
        cursor = page.nextCursor;
      } while (cursor !== null);
      return found;
    };
    for (const side of ["left", "right"] as const) {
      const listed = await keys(side);
      expect(
        settled.filter((number) => listed.includes(number)),
        side,
      ).toEqual(settled);
      expect(
        young.filter((number) => listed.includes(number)),
        side,
      ).toEqual([]);
    }
  });
});
