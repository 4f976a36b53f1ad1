import { afterEach, describe, expect, it } from "vitest";
import { createSandbox, type Sandbox } from "../../src/sandbox/create-sandbox.ts";
import { type AccountingSystem, createAccounting } from "../../src/sandbox/systems/accounting.ts";
import { createStore, type SeededOrder, type Store } from "../../src/sandbox/systems/store.ts";
import { ApiTestServer } from "../support/api-server.ts";
import { waitFor } from "../support/wait.ts";

describe("out-of-band changes in the sandbox", () => {
  let sandbox: Sandbox | undefined;
  let receiver: ApiTestServer | undefined;
  afterEach(async () => {
    await sandbox?.close();
    await receiver?.close();
  });

  async function start(random?: () => number) {
    receiver = new ApiTestServer();
    await receiver.start();
    sandbox = createSandbox({
      systems: { store: createStore, accounting: createAccounting },
      webhookUrls: { store: `${receiver.origin}/hooks/store` },
      ...(random ? { random } : {}),
    });
    await sandbox.listen({ host: "127.0.0.1", port: 0 });
    return {
      sandbox,
      receiver,
      store: sandbox.system<Store>("store"),
      books: sandbox.system<AccountingSystem>("accounting"),
    };
  }

  it("a store that drops webhooks never sends some, and counts them; the orders exist all the same", async () => {
    let draw = 0;
    // Every fourth draw is under the rate: exactly one order in four loses its webhook.
    const { sandbox, receiver, store } = await start(() => (draw++ % 4 === 0 ? 0.1 : 0.9));
    sandbox.setFaults("store", { dropWebhooksRate: 0.25 });
    for (let i = 0; i < 8; i += 1) store.placeOrder();
    await waitFor("six webhooks", () => receiver.requests.length === 6);
    expect(store.state().counters).toMatchObject({ orders: 8, webhooksSent: 6, webhooksDropped: 2 });
    sandbox.setFaults("store", { dropWebhooksRate: null });
    store.placeOrder();
    await waitFor("the next one", () => receiver.requests.length === 7);
  });

  it("a person edits an order's lines or deletes and edits invoices, and nobody is told", async () => {
    const { sandbox, receiver, store, books } = await start();
    const order = store.placeOrder({ lines: [{ sku: store.state().products[0]?.sku as string, quantity: 1 }] });
    await waitFor("the order's webhook", () => receiver.requests.length === 1);
    const edited = await fetch(`${sandbox.url}/_sandbox/store/orders/${order.id}`, {
      method: "PATCH",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ lines: [{ quantity: 2, price: "10.00" }] }),
    });
    expect(edited.status).toBe(200);
    expect(await edited.json()).toMatchObject({ total_price: "21.60", line_items: [{ quantity: 2, price: "10.00" }] });
    const refused = await fetch(`${sandbox.url}/_sandbox/store/orders/${order.id}`, {
      method: "PATCH",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ lines: [{ price: "ten" }] }),
    });
    expect(refused.status).toBe(422);

    books.seedInvoices([
      { docNumber: "S-1001", email: "ada@example.com", totalCents: 2160 },
      { docNumber: "S-1002", email: "ada@example.com", totalCents: 999 },
    ]);
    const [first, second] = books.state().invoices;
    expect(books.state().customers).toEqual([expect.objectContaining({ email: "ada@example.com", balance: 31.59 })]);
    const deleted = await fetch(`${sandbox.url}/_sandbox/accounting/invoices/${first?.id}`, { method: "DELETE" });
    expect(deleted.status).toBe(204);
    const patched = await fetch(`${sandbox.url}/_sandbox/accounting/invoices/${second?.id}`, {
      method: "PATCH",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ totalAmt: 12.5 }),
    });
    expect(patched.status).toBe(200);
    expect(await patched.json()).toMatchObject({ DocNumber: "S-1002", TotalAmt: 12.5, Balance: 12.5 });
    expect(books.state().invoices.map((i) => [i.docNumber, i.totalAmt])).toEqual([["S-1002", 12.5]]);
    expect(books.state().customers[0]?.balance).toBe(12.5);
    const gone = await fetch(`${sandbox.url}/_sandbox/accounting/invoices/${first?.id}`, { method: "DELETE" });
    expect(gone.status).toBe(404);
    expect(receiver.requests).toHaveLength(1);
  });

  it("seeds orders at scale without webhooks", async () => {
    const { receiver, store } = await start();
    const seeded: SeededOrder[] = [];
    store.seedOrders(500, (order) => seeded.push(order));
    expect(store.state().counters).toMatchObject({ orders: 500, webhooksSent: 0 });
    expect(new Set(seeded.map((order) => order.orderNumber)).size).toBe(500);
    expect(seeded.every((order) => order.totalCents > 0 && order.email.endsWith("@example.com"))).toBe(true);
    expect(receiver.requests).toEqual([]);
  });
});
