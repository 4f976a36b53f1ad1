import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ResponseShapeError } from "../../src/connectors/define-connector.ts";
import { type InventoryItem, inventory } from "../../src/connectors/inventory/index.ts";
import type { Sandbox } from "../../src/sandbox/create-sandbox.ts";
import { catalogue } from "../../src/sandbox/systems/catalogue.ts";
import { createInventory, type Inventory } from "../../src/sandbox/systems/inventory.ts";
import { NonRetryableError } from "../../src/sdk/errors.ts";
import { connectToSandbox, type SandboxConnections, startTestSandbox } from "../support/sandbox.ts";

let sandbox: Sandbox;
let connections: SandboxConnections;
let warehouse: Inventory;
let client: ReturnType<typeof inventory.client>;
let apiKey: string;

beforeAll(async () => {
  sandbox = await startTestSandbox({ inventory: (context) => createInventory(context) });
  warehouse = sandbox.system<Inventory>("inventory");
  apiKey = sandbox.credentials("inventory").apiKey as string;
  connections = await connectToSandbox({
    inventory: inventory.connection({ baseUrl: sandbox.baseUrl("inventory"), credentials: { apiKey } }),
  });
  client = inventory.client(connections.client("inventory"));
});

beforeEach(() => {
  sandbox.setFaults("inventory", { schemaChange: null });
});

afterAll(async () => {
  await connections.close();
  await sandbox.close();
});

const requestsSince = (count: number) => sandbox.requests("inventory").slice(count);

describe("inventory connector", () => {
  it("is configured for the warehouse API: X-Api-Key, Idempotency-Key on writes, 20 requests a second", () => {
    expect(inventory.connection({ baseUrl: "https://warehouse.example" })).toMatchObject({
      auth: { type: "apiKey", in: "header", name: "X-Api-Key" },
      rateLimit: "20/s",
      idempotencyHeader: "Idempotency-Key",
    });
    expect(inventory.webhooks).toBeUndefined();
  });

  it("listItemsUpdatedSince GETs /v1/items page by page, following nextCursor, in camelCase", async () => {
    const before = sandbox.requests("inventory").length;
    const items: InventoryItem[] = [];
    let page = await client.listItemsUpdatedSince({ updatedSince: "2000-01-01T00:00:00Z", limit: 4 });
    items.push(...page.items);
    while (page.nextCursor) {
      page = await client.listItemsUpdatedSince({ cursor: page.nextCursor, limit: 4 });
      items.push(...page.items);
    }
    expect(items).toHaveLength(catalogue.length);
    expect(items[0]).toEqual({
      sku: expect.any(String),
      name: expect.any(String),
      onHand: expect.any(Number),
      updatedAt: expect.any(String),
    });

    const [first, second] = requestsSince(before);
    expect(first).toMatchObject({
      method: "GET",
      path: "/v1/items",
      query: { updated_since: "2000-01-01T00:00:00Z", limit: "4" },
      headers: { "x-api-key": apiKey, accept: "application/json" },
    });
    expect(second?.query).toEqual({ cursor: expect.any(String), limit: "4" });
  });

  it("getItem GETs /v1/items/{sku}", async () => {
    const before = sandbox.requests("inventory").length;
    expect(await client.getItem({ sku: "TEN-NOTE-A5" })).toMatchObject({ sku: "TEN-NOTE-A5", onHand: 1500 });
    expect(requestsSince(before)[0]).toMatchObject({ method: "GET", path: "/v1/items/TEN-NOTE-A5" });
  });

  it("adjustStock POSTs JSON to /v1/items/{sku}/adjustments with the step's Idempotency-Key", async () => {
    const before = sandbox.requests("inventory").length;
    const adjustment = await connections.inStep(
      () => client.adjustStock({ sku: "TEN-MUG-01", delta: -2, reason: "sale", reference: "order #1001" }),
      { key: "run-1:decrement-stock" },
    );
    expect(adjustment).toEqual({
      id: expect.stringMatching(/^adj_/),
      sku: "TEN-MUG-01",
      delta: -2,
      onHand: 1198,
      reference: "order #1001",
    });
    const [request] = requestsSince(before);
    expect(request).toMatchObject({
      method: "POST",
      path: "/v1/items/TEN-MUG-01/adjustments",
      headers: { "x-api-key": apiKey, "content-type": "application/json", "idempotency-key": "run-1:decrement-stock" },
    });
    expect(JSON.parse(request?.body ?? "")).toEqual({ delta: -2, reason: "sale", reference: "order #1001" });
  });

  it("a retried step decrements each line once: its writes carry the same keys on every attempt", async () => {
    const decrementLines = () =>
      connections.inStep(
        async () => [
          await client.adjustStock({ sku: "TEN-CAP-01", delta: -1, reason: "sale", reference: "order #1002" }),
          await client.adjustStock({ sku: "TEN-TOTE-01", delta: -3, reason: "sale", reference: "order #1002" }),
        ],
        { key: "run-2:decrement-stock" },
      );
    const first = await decrementLines();
    const retried = await decrementLines();
    expect(retried.map((adjustment) => adjustment.id)).toEqual(first.map((adjustment) => adjustment.id));
    expect(warehouse.adjustments("order #1002")).toHaveLength(2);
    expect(warehouse.item("TEN-TOTE-01")?.on_hand).toBe(997);
    const keys = requestsSince(sandbox.requests("inventory").length - 4).map(
      (request) => request.headers["idempotency-key"],
    );
    expect(keys).toEqual([
      "run-2:decrement-stock",
      "run-2:decrement-stock:2",
      "run-2:decrement-stock",
      "run-2:decrement-stock:2",
    ]);
  });

  it("fails with a ResponseShapeError naming the field when the API renames it", async () => {
    sandbox.setFaults("inventory", { schemaChange: { field: "on_hand", action: "rename", to: "quantity" } });
    const failure = client.getItem({ sku: "TEN-MUG-01" });
    await expect(failure).rejects.toThrow(ResponseShapeError);
    await expect(failure).rejects.toThrow(/on_hand/);
  });

  it("checks input before sending anything: a delta of 0 is no adjustment", async () => {
    const before = sandbox.requests("inventory").length;
    await expect(client.adjustStock({ sku: "TEN-MUG-01", delta: 0, reason: "count" })).rejects.toThrow(
      NonRetryableError,
    );
    await expect(client.listItemsUpdatedSince({ updatedSince: "last tuesday" })).rejects.toThrow(NonRetryableError);
    expect(sandbox.requests("inventory").length).toBe(before);
  });
});
