import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { shopifyProvider } from "../../src/ingestion/webhooks/providers/shopify.ts";
import { createSandbox, type Sandbox } from "../../src/sandbox/create-sandbox.ts";
import { catalogue } from "../../src/sandbox/systems/catalogue.ts";
import { createStore, type Store } from "../../src/sandbox/systems/store.ts";
import { ApiTestServer, type RecordedRequest } from "../support/api-server.ts";
import { ManualClock } from "../support/clock.ts";
import { startTestSandbox } from "../support/sandbox.ts";
import { waitFor } from "../support/wait.ts";

// biome-ignore lint/suspicious/noExplicitAny: an answer's JSON, which the assertions check
type Json = any;
const read = (response: Response | Promise<Response>): Promise<Json> => Promise.resolve(response).then((r) => r.json());

let sandbox: Sandbox;
let receiver: ApiTestServer;
let token: string;
let webhookSecret: string;

const admin = () => `${sandbox.baseUrl("store")}/admin/api/2025-07`;

function api(path: string, init: { method?: string; body?: unknown; token?: string } = {}) {
  return fetch(`${admin()}/${path}`, {
    method: init.method ?? "GET",
    headers: {
      "x-shopify-access-token": init.token ?? token,
      ...(init.body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
}

function verifyWebhook(request: RecordedRequest) {
  const webhook = {
    method: "POST",
    url: `${receiver.origin}/hooks/store`,
    headers: Object.fromEntries(Object.entries(request.headers).map(([name, value]) => [name, String(value)])),
    rawBody: Buffer.from(request.body),
  };
  return { verified: shopifyProvider.verify(webhook, { secrets: [webhookSecret], now: Date.now() }), webhook };
}

const store = () => sandbox.system<Store>("store");

beforeAll(async () => {
  receiver = new ApiTestServer();
  await receiver.start();
  sandbox = await startTestSandbox(
    { store: (context) => createStore(context, { random: seededRandom(7) }) },
    // A minute of the provider's retry schedule passes in 100 ms.
    { webhookUrls: { store: `${receiver.origin}/hooks/store` }, webhookTimeScale: 600 },
  );
  ({ token, webhookSecret } = sandbox.credentials("store") as { token: string; webhookSecret: string });
});

afterAll(async () => {
  await sandbox.close();
  await receiver.close();
});

afterEach(() => {
  receiver.requests.length = 0;
});

describe("store sandbox (Shopify-like REST Admin API)", () => {
  it("hands out an Admin API access token and a webhook secret", () => {
    expect(token).toMatch(/^shpat_[0-9a-f]{32}$/);
    expect(webhookSecret).toMatch(/^[0-9a-f]{32}$/);
  });

  it("refuses a missing, wrong or revoked access token with Shopify's 401 body", async () => {
    const invalid = { errors: "[API] Invalid API key or access token (unrecognized login or wrong password)" };
    const wrong = await api("orders.json", { token: "shpat_wrong" });
    expect(wrong.status).toBe(401);
    expect(await read(wrong)).toEqual(invalid);

    sandbox.setFaults("store", { revokeCredentials: true });
    expect((await api("orders.json")).status).toBe(401);
    sandbox.setFaults("store", { restoreCredentials: true });
    expect((await api("orders.json")).status).toBe(200);
  });

  it("sells the shared catalogue: one product with one variant per SKU, stocked at the one location", async () => {
    const { products } = await read(api("products.json"));
    expect(products.map((product: { variants: { sku: string }[] }) => product.variants[0]?.sku)).toEqual(
      catalogue.map((item) => item.sku),
    );
    const mug = products[0];
    expect(mug).toMatchObject({
      id: expect.any(Number),
      title: "Stoneware Mug",
      admin_graphql_api_id: `gid://shopify/Product/${mug.id}`,
      variants: [
        {
          product_id: mug.id,
          sku: "TEN-MUG-01",
          price: "18.00",
          inventory_item_id: expect.any(Number),
          inventory_quantity: expect.any(Number),
        },
      ],
    });
    const { locations } = await read(api("locations.json"));
    expect(locations).toEqual([expect.objectContaining({ id: expect.any(Number), name: "Main Warehouse" })]);

    const one = await read(api(`products/${mug.id}.json?fields=id,variants`));
    expect(Object.keys(one.product)).toEqual(["id", "variants"]);
  });

  it("pages products with a Link header whose page_info needs nothing else", async () => {
    const first = await api("products.json?limit=4&fields=id");
    const next = /<([^>]+)>; rel="next"/.exec(first.headers.get("link") ?? "")?.[1];
    expect(next).toMatch(/\/admin\/api\/2025-07\/products\.json\?limit=4&fields=id&page_info=/);
    const ids = (await read(first)).products.map((product: { id: number }) => product.id);
    let url = next;
    while (url) {
      const page = await fetch(url, { headers: { "x-shopify-access-token": token } });
      ids.push(...(await read(page)).products.map((product: { id: number }) => product.id));
      url = /<([^>]+)>; rel="next"/.exec(page.headers.get("link") ?? "")?.[1];
    }
    expect(ids).toHaveLength(catalogue.length);
    expect(new Set(ids).size).toBe(catalogue.length);
  });

  it("pages a filter over the orders in id order, the Link header carrying it to the last page", async () => {
    const placed = Array.from({ length: 7 }, () => store().placeOrder());
    for (const order of placed.filter((_, i) => i % 2 === 0)) store().payOrder(order.id);
    const paid = placed.filter((_, i) => i % 2 === 0).map((order) => order.id);
    const ids: number[] = [];
    const pages: number[] = [];
    let url: string | undefined =
      `${admin()}/orders.json?financial_status=paid&limit=2&fields=id&since_id=${(placed[0]?.id ?? 0) - 1}`;
    while (url) {
      const page = await fetch(url, { headers: { "x-shopify-access-token": token } });
      const listed = (await read(page)).orders.map((order: { id: number }) => order.id);
      ids.push(...listed);
      pages.push(listed.length);
      url = /<([^>]+)>; rel="next"/.exec(page.headers.get("link") ?? "")?.[1];
    }
    expect(ids).toEqual(paid);
    // Four paid orders, two a page: no third page, and no empty one.
    expect(pages).toEqual([2, 2]);
  });

  it("lists the orders changed since updated_at_min, an edit made in the admin included", async () => {
    const placed = store().placeOrder();
    const since = new Date(Date.now() + 1000);
    const changed = async () =>
      (await read(api(`orders.json?status=any&fields=id&updated_at_min=${since.toISOString()}`))).orders.map(
        (order: { id: number }) => order.id,
      );
    expect(await changed()).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, since.getTime() - Date.now() + 10));
    store().editOrder(placed.id, { lines: [{ quantity: 2 }] });
    expect(await changed()).toEqual([placed.id]);
  });

  it("sets an inventory level, which the variant's inventory_quantity and inventoryLevel() then show", async () => {
    const { products } = await read(api("products.json"));
    const variant = products[1].variants[0];
    const { locations } = await read(api("locations.json"));
    const set = await api("inventory_levels/set.json", {
      method: "POST",
      body: { location_id: locations[0].id, inventory_item_id: variant.inventory_item_id, available: 42 },
    });
    expect(set.status).toBe(200);
    expect((await read(set)).inventory_level).toMatchObject({
      inventory_item_id: variant.inventory_item_id,
      location_id: locations[0].id,
      available: 42,
    });
    const levels = await read(api(`inventory_levels.json?inventory_item_ids=${variant.inventory_item_id}`));
    expect(levels.inventory_levels).toEqual([expect.objectContaining({ available: 42 })]);
    expect(store().inventoryLevel(variant.sku)).toBe(42);

    const missing = await api("inventory_levels/set.json", { method: "POST", body: { location_id: locations[0].id } });
    expect(missing.status).toBe(400);
    expect(await read(missing)).toEqual({ errors: { inventory_item_id: "Required parameter missing or invalid" } });
  });

  it("creates an order through POST orders.json and announces it with a verifiable orders/create webhook", async () => {
    const { products } = await read(api("products.json"));
    const created = await api("orders.json", {
      method: "POST",
      body: {
        order: {
          email: "ada@example.com",
          customer: { first_name: "Ada", last_name: "Lovelace" },
          financial_status: "pending",
          line_items: [{ variant_id: products[0].variants[0].id, quantity: 2 }],
        },
      },
    });
    expect(created.status).toBe(201);
    const { order } = await read(created);
    expect(order).toMatchObject({
      id: expect.any(Number),
      admin_graphql_api_id: `gid://shopify/Order/${order.id}`,
      name: `#${order.order_number}`,
      email: "ada@example.com",
      currency: "USD",
      subtotal_price: "36.00",
      total_tax: "2.88",
      total_price: "38.88",
      financial_status: "pending",
      customer: { email: "ada@example.com", first_name: "Ada", last_name: "Lovelace" },
      line_items: [{ sku: "TEN-MUG-01", quantity: 2, price: "18.00", variant_id: products[0].variants[0].id }],
    });
    expect((await read(api(`orders/${order.id}.json`))).order).toEqual(order);

    const delivery = await waitFor("the orders/create webhook", () =>
      receiver.requests.find((request) => JSON.parse(request.body).id === order.id),
    );
    const { verified, webhook } = verifyWebhook(delivery);
    expect(verified).toEqual({ ok: true });
    expect(delivery.headers).toMatchObject({
      "x-shopify-topic": "orders/create",
      "x-shopify-shop-domain": "tenon-sandbox.myshopify.com",
      "x-shopify-api-version": "2025-07",
      "x-shopify-webhook-id": expect.any(String),
      "x-shopify-event-id": expect.any(String),
      "x-shopify-triggered-at": expect.any(String),
    });
    const [event] = shopifyProvider.parse(webhook).events;
    expect(event).toMatchObject({ type: "orders/create", dedupKey: delivery.headers["x-shopify-event-id"] });
    expect(event?.payload).toEqual(order);
  });

  it("answers Shopify's errors: 404 for an unknown order, 400 without an order, 422 without line items", async () => {
    const missing = await api("orders/1.json");
    expect(missing.status).toBe(404);
    expect(await read(missing)).toEqual({ errors: "Not Found" });

    const noOrder = await api("orders.json", { method: "POST", body: { email: "x@example.com" } });
    expect(noOrder.status).toBe(400);
    expect(await read(noOrder)).toEqual({ errors: { order: "Required parameter missing or invalid" } });

    const noLines = await api("orders.json", { method: "POST", body: { order: { line_items: [] } } });
    expect(noLines.status).toBe(422);
    expect(await read(noLines)).toEqual({ errors: { line_items: ["must have at least one line item"] } });
  });

  it("simulates checkouts: a random returning customer buys 1–3 lines, stock goes down, then the order is paid", async () => {
    const before = Object.fromEntries(catalogue.map((item) => [item.sku, store().inventoryLevel(item.sku)]));
    const response = await fetch(`${sandbox.url}/_sandbox/store/orders`, { method: "POST" });
    expect(response.status).toBe(201);
    const order = await read(response);
    expect(order.financial_status).toBe("pending");
    expect(order.email).toMatch(/^[a-z]+\.[a-z]+@example\.com$/);
    expect(order.line_items.length).toBeGreaterThanOrEqual(1);
    expect(order.line_items.length).toBeLessThanOrEqual(3);
    for (const line of order.line_items) {
      expect(store().inventoryLevel(line.sku)).toBe((before[line.sku] ?? 0) - line.quantity);
    }

    const paid = await fetch(`${sandbox.url}/_sandbox/store/orders/${order.id}/pay`, { method: "POST" });
    expect((await read(paid)).financial_status).toBe("paid");
    const topics = await waitFor("both webhooks of the order", () => {
      const found = receiver.requests.filter((request) => JSON.parse(request.body).id === order.id);
      return found.length === 2 ? found.map((request) => String(request.headers["x-shopify-topic"])) : undefined;
    });
    expect(topics.sort()).toEqual(["orders/create", "orders/paid"]);
  });

  it("places the order a test asks for, and the same customer may order again", async () => {
    const input = {
      email: "grace@example.com",
      firstName: "Grace",
      lastName: "Hopper",
      lines: [{ sku: "TEN-CAP-01", quantity: 1 }],
    };
    const first = store().placeOrder(input);
    const second = store().placeOrder(input);
    expect(second.order_number).toBe(first.order_number + 1);
    expect(second.customer?.id).toBe(first.customer?.id);
    expect(first.line_items).toEqual([expect.objectContaining({ sku: "TEN-CAP-01", quantity: 1, price: "24.00" })]);
    expect(() => store().placeOrder({ lines: [{ sku: "NOPE", quantity: 1 }] })).toThrow(/unknown SKU/);
  });

  it("keeps X-Shopify-Webhook-Id and X-Shopify-Event-Id when it redelivers a webhook the receiver refused", async () => {
    let refused = false;
    receiver.respond = (request) => {
      if (refused || JSON.parse(request.body).email !== "once-refused@example.com") return { status: 200 };
      refused = true;
      return { status: 500 };
    };
    const order = store().placeOrder({ email: "once-refused@example.com" });
    const deliveries = await waitFor("a redelivery", () => {
      const found = receiver.requests.filter((request) => JSON.parse(request.body).id === order.id);
      return found.length >= 2 ? found : undefined;
    });
    const [first, second] = deliveries;
    expect(second?.headers["x-shopify-webhook-id"]).toBe(first?.headers["x-shopify-webhook-id"]);
    expect(second?.headers["x-shopify-event-id"]).toBe(first?.headers["x-shopify-event-id"]);
    expect(second?.body).toBe(first?.body);
  });
});

describe("store sandbox rate limit (Shopify's leaky bucket)", () => {
  const clock = new ManualClock();
  let limited: Sandbox;
  let limitedToken: string;

  beforeAll(async () => {
    limited = createSandbox({ systems: { store: createStore }, now: () => clock.now() });
    await limited.listen();
    limitedToken = limited.credentials("store").token as string;
  });

  afterAll(async () => {
    await limited.close();
  });

  const call = () =>
    fetch(`${limited.baseUrl("store")}/admin/api/2025-07/locations.json`, {
      headers: { "x-shopify-access-token": limitedToken },
    });

  it("answers 40 calls at once, counting them in X-Shopify-Shop-Api-Call-Limit, then 429 until the bucket leaks", async () => {
    for (let used = 1; used <= 40; used += 1) {
      const response = await call();
      expect(response.status).toBe(200);
      expect(response.headers.get("x-shopify-shop-api-call-limit")).toBe(`${used}/40`);
    }
    const refused = await call();
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toBe("2.0");
    expect(refused.headers.get("x-shopify-shop-api-call-limit")).toBe("40/40");
    expect(await read(refused)).toEqual({
      errors: "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service.",
    });

    clock.advance(1000);
    expect((await call()).status).toBe(200);
    expect((await call()).status).toBe(200);
    expect((await call()).status).toBe(429);
  });
});

/** A small deterministic generator, so the random checkouts are the same on every run. */
function seededRandom(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
}
