import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ResponseShapeError } from "../../src/connectors/define-connector.ts";
import { shopify, shopifyOrderSchema } from "../../src/connectors/shopify/index.ts";
import type { Sandbox } from "../../src/sandbox/create-sandbox.ts";
import { createStore, type Store } from "../../src/sandbox/systems/store.ts";
import { NonRetryableError } from "../../src/sdk/errors.ts";
import { ApiTestServer } from "../support/api-server.ts";
import { connectToSandbox, type SandboxConnections, startTestSandbox } from "../support/sandbox.ts";

let sandbox: Sandbox;
let connections: SandboxConnections;
let store: Store;
let client: ReturnType<typeof shopify.client>;
let token: string;

beforeAll(async () => {
  sandbox = await startTestSandbox({ store: (context) => createStore(context) });
  store = sandbox.system<Store>("store");
  token = sandbox.credentials("store").token as string;
  connections = await connectToSandbox({
    store: shopify.connection({ baseUrl: sandbox.baseUrl("store"), credentials: { apiKey: token } }),
  });
  client = shopify.client(connections.client("store"));
});

beforeEach(() => {
  sandbox.setFaults("store", { schemaChange: null });
});

afterAll(async () => {
  await connections.close();
  await sandbox.close();
});

const requestsSince = (count: number) => sandbox.requests("store").slice(count);

describe("shopify connector", () => {
  it("is configured as Shopify documents: access-token header, versioned paths, the leaky bucket, no idempotency header", () => {
    const config = shopify.connection({ baseUrl: "https://acme.myshopify.com/" });
    expect(config).toMatchObject({
      baseUrl: "https://acme.myshopify.com/admin/api/2025-07",
      auth: { type: "apiKey", in: "header", name: "X-Shopify-Access-Token" },
      rateLimit: "2/s burst 40",
      idempotencyHeader: false,
    });
    expect(shopify.connection({ baseUrl: "https://acme.myshopify.com", apiVersion: "2025-10" }).baseUrl).toBe(
      "https://acme.myshopify.com/admin/api/2025-10",
    );
    expect(shopify.webhooks).toEqual({ provider: "shopify", dedupKey: "X-Shopify-Event-Id" });
  });

  it("getOrder reads GET /admin/api/2025-07/orders/{id}.json and returns the order in the webhook's shape", async () => {
    const placed = store.placeOrder({ email: "ada@example.com", firstName: "Ada", lastName: "Lovelace" });
    const before = sandbox.requests("store").length;
    const order = await client.getOrder({ id: placed.id });
    expect(order).toMatchObject({
      id: placed.id,
      name: placed.name,
      email: "ada@example.com",
      total_price: placed.total_price,
    });
    expect(order.line_items).toEqual(placed.line_items);
    const [request] = requestsSince(before);
    expect(request).toMatchObject({
      method: "GET",
      path: `/admin/api/2025-07/orders/${placed.id}.json`,
      headers: { "x-shopify-access-token": token, accept: "application/json" },
      body: "",
    });
  });

  it("exports the schema of the orders/create payload, which the store's webhook body satisfies", () => {
    const payload = JSON.parse(JSON.stringify(store.placeOrder()));
    const parsed = shopifyOrderSchema.parse(payload);
    expect(parsed.line_items[0]).toMatchObject({ sku: expect.any(String), quantity: expect.any(Number) });
    expect(parsed.admin_graphql_api_id).toBe(`gid://shopify/Order/${payload.id}`);
  });

  it("listLocations reads GET locations.json and returns ids and names", async () => {
    const before = sandbox.requests("store").length;
    expect(await client.listLocations()).toEqual([{ id: expect.any(Number), name: "Main Warehouse" }]);
    expect(requestsSince(before)[0]).toMatchObject({ method: "GET", path: "/admin/api/2025-07/locations.json" });
  });

  it("findVariantBySku pages GET products.json for ids and variants only, and returns the variant or null", async () => {
    const before = sandbox.requests("store").length;
    const found = await client.findVariantBySku({ sku: "TEN-SOCK-01" });
    const product = store.state().products.find((candidate) => candidate.sku === "TEN-SOCK-01");
    expect(found).toEqual({
      productId: product?.id,
      variantId: product?.variantId,
      inventoryItemId: product?.inventoryItemId,
      sku: "TEN-SOCK-01",
    });
    expect(requestsSince(before)[0]).toMatchObject({
      method: "GET",
      path: "/admin/api/2025-07/products.json",
      query: { fields: "id,variants", limit: "250" },
    });
    expect(await client.findVariantBySku({ sku: "NOT-SOLD-HERE" })).toBeNull();
  });

  it("findVariantBySku follows the Link header's rel=next URL, page_info alone, until the SKU turns up", async () => {
    const shop = new ApiTestServer();
    await shop.start();
    const paged = await connectToSandbox({
      shop: shopify.connection({ baseUrl: shop.origin, credentials: { apiKey: "shpat_test" } }),
    });
    try {
      const next = `${shop.origin}/admin/api/2025-07/products.json?limit=250&page_info=eyJsYXN0IjoxfQ`;
      shop.queue(
        { status: 200, headers: { link: `<${next}>; rel="next"` }, body: { products: [{ id: 1, variants: [] }] } },
        {
          status: 200,
          body: { products: [{ id: 2, variants: [{ id: 20, sku: "FAR-AWAY", inventory_item_id: 200 }] }] },
        },
      );
      const found = await shopify.client(paged.client("shop")).findVariantBySku({ sku: "FAR-AWAY" });
      expect(found).toEqual({ productId: 2, variantId: 20, inventoryItemId: 200, sku: "FAR-AWAY" });
      expect(shop.requests.map((request) => `${request.path}?${request.query}`)).toEqual([
        "/admin/api/2025-07/products.json?fields=id%2Cvariants&limit=250",
        "/admin/api/2025-07/products.json?limit=250&page_info=eyJsYXN0IjoxfQ",
      ]);
      expect(shop.requests[1]?.headers["x-shopify-access-token"]).toBe("shpat_test");
    } finally {
      await paged.close();
      await shop.close();
    }
  });

  it("setInventoryLevel POSTs inventory_levels/set.json as JSON, with no Idempotency-Key: a set is safe to repeat", async () => {
    const variant = await client.findVariantBySku({ sku: "TEN-MUG-01" });
    const [location] = await client.listLocations();
    const input = { inventoryItemId: variant?.inventoryItemId ?? 0, locationId: location?.id ?? 0, available: 77 };
    const before = sandbox.requests("store").length;
    const first = await connections.inStep(() => client.setInventoryLevel(input), { key: "run-1:set-store-stock" });
    const retried = await connections.inStep(() => client.setInventoryLevel(input), { key: "run-1:set-store-stock" });
    expect(first).toEqual({ ...input, available: 77, updatedAt: expect.any(String) });
    expect(retried.available).toBe(77);
    expect(store.inventoryLevel("TEN-MUG-01")).toBe(77);

    const [request] = requestsSince(before);
    expect(request).toMatchObject({
      method: "POST",
      path: "/admin/api/2025-07/inventory_levels/set.json",
      headers: { "x-shopify-access-token": token, "content-type": "application/json" },
    });
    expect(request?.headers["idempotency-key"]).toBeUndefined();
    expect(JSON.parse(request?.body ?? "")).toEqual({
      location_id: input.locationId,
      inventory_item_id: input.inventoryItemId,
      available: 77,
    });
  });

  it("fails with a ResponseShapeError naming the field when the API changes a field's type", async () => {
    const placed = store.placeOrder();
    sandbox.setFaults("store", { schemaChange: { field: "total_price", action: "retype" } });
    const failure = client.getOrder({ id: placed.id });
    await expect(failure).rejects.toThrow(ResponseShapeError);
    await expect(failure).rejects.toThrow(/total_price/);
  });

  it("checks input before sending anything", async () => {
    const before = sandbox.requests("store").length;
    await expect(client.setInventoryLevel({ inventoryItemId: 1, locationId: 1, available: 1.5 })).rejects.toThrow(
      NonRetryableError,
    );
    expect(sandbox.requests("store").length).toBe(before);
  });
});
