import { afterEach, describe, expect, it } from "vitest";
import { startTestHarness, type TestHarness } from "../../src/testing/index.ts";

const examples = new URL("../../examples/tenon.config.ts", import.meta.url);
let tenon: TestHarness | undefined;

afterEach(async () => {
  await tenon?.stop();
  tenon = undefined;
});

describe("order-to-cash, run a second time for the same order", () => {
  it("changes nothing downstream: one invoice, one stock adjustment per line, one email (a replayed event, a reconciliation's repair)", async () => {
    tenon = await startTestHarness({ config: examples });
    const order = tenon.sandbox.store.placeOrder({ email: "ada@example.com" });
    const [first] = await tenon.waitForRuns({ integration: "order-to-cash", timeoutMs: 30_000 });
    expect(first?.status).toBe("succeeded");
    const stockAfterFirst = tenon.sandbox.inventory.state().adjustments.length;

    // What a reconciliation's repair does for an order whose invoice went missing: the order sent again, as a new event.
    const again = await tenon.send({
      source: "store",
      type: "orders/create",
      id: `repair-${order.id}`,
      payload: order,
    });
    expect(again.duplicate).toBe(false);
    const runs = await tenon.waitForRuns({ integration: "order-to-cash", count: 2, timeoutMs: 30_000 });
    expect(runs.map((run) => run.status)).toEqual(["succeeded", "succeeded"]);

    const adjustments = tenon.sandbox.inventory.state().adjustments;
    expect(adjustments.length).toBe(stockAfterFirst);
    expect(adjustments.filter((adjustment) => adjustment.reference === `order ${order.name}`)).toHaveLength(
      order.line_items.length,
    );
    const invoices = tenon.sandbox.accounting.state().invoices;
    expect(invoices.filter((invoice) => invoice.docNumber === `S-${order.order_number}`)).toHaveLength(1);
    const emails = tenon.sandbox.email.messages();
    expect(emails.filter((message) => message.Metadata.order === String(order.order_number))).toHaveLength(1);
  });
});
