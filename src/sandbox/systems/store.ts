import { createHmac, randomBytes, randomUUID } from "node:crypto";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { SandboxContext, SandboxSystem } from "../sandbox-system.ts";
import { shopifyWebhookRetries } from "../webhook-retry-schedules.ts";
import { catalogue } from "./catalogue.ts";
import { LeakyBucket } from "./leaky-bucket.ts";
import { maxKeptRecords, setKept } from "./record-limits.ts";
import {
  type Address,
  type Customer,
  customerJson,
  type Level,
  levelJson,
  money,
  type Order,
  orderJson,
  orderTotals,
  type Product,
  productJson,
  type ShopifyOrderJson,
  shopifyTime,
  type Variant,
} from "./shopify-json.ts";

export type { ShopifyOrderJson } from "./shopify-json.ts";

/**
 * A Shopify-like store speaking the REST Admin API (https://shopify.dev/docs/api/admin-rest/2025-07):
 * orders, products with their variants, one location's inventory levels and customers, under
 * `/admin/api/<version>/…`, authenticated with `X-Shopify-Access-Token` and throttled by Shopify's
 * leaky bucket (https://shopify.dev/docs/api/usage/limits#rest-admin-api-rate-limits). New and paid
 * orders are announced with `orders/create` and `orders/paid` webhooks signed as Shopify signs them.
 * It keeps the newest 50,000 orders (`maxKeptRecords`) and drops older ones, so hours of demo traffic
 * stay in bounded memory.
 */
export interface StoreOptions {
  /** The Admin API access token; default a random `shpat_…`. */
  accessToken?: string;
  /** The app's client secret, which signs webhooks; default random. */
  webhookSecret?: string;
  /** Default `tenon-sandbox.myshopify.com`. */
  shopDomain?: string;
  /** Default "USD". */
  currency?: string;
  /** Requests the leaky bucket holds per access token. Default 40 (Shopify's standard plans). */
  bucketSize?: number;
  /** Requests the bucket leaks per second. Default 2. */
  leakRatePerSecond?: number;
  /** The most orders kept; the oldest are dropped past it. Default 50,000 (`maxKeptRecords`). */
  maxKeptOrders?: number;
  random?: () => number;
}

/** A checkout, as a customer would make one (everything optional: a random customer buys 1–3 random lines). */
export interface PlaceOrderInput {
  email?: string;
  firstName?: string;
  lastName?: string;
  lines?: { sku: string; quantity: number }[];
}

export interface StoreState {
  shopDomain: string;
  location: { id: number; name: string };
  products: { id: number; title: string; sku: string; variantId: number; inventoryItemId: number; available: number }[];
  orders: {
    id: number;
    name: string;
    email: string;
    financialStatus: string;
    totalPrice: string;
    lines: { sku: string | null; quantity: number }[];
  }[];
  customers: { id: number; email: string; ordersCount: number }[];
  counters: {
    orders: number;
    customers: number;
    apiCalls: number;
    throttled: number;
    unauthorized: number;
    webhooksSent: number;
    /** Webhooks the `dropWebhooksRate` fault kept from ever being sent. */
    webhooksDropped: number;
  };
  credentialsRevoked: boolean;
}

export interface Store extends SandboxSystem {
  state(): StoreState;
  /** A customer checks out: the order is created (financial status pending) and `orders/create` is sent. */
  placeOrder(input?: PlaceOrderInput): ShopifyOrderJson;
  /** The order's payment is captured: financial status paid, `orders/paid` is sent. */
  payOrder(id: number): ShopifyOrderJson;
  /** Units available at the store's location for this SKU. */
  inventoryLevel(sku: string): number;
  /**
   * A person edits an order in the shop's admin (out of band): each given line gets its new quantity or unit
   * price, so the order's total changes. No webhook is sent.
   */
  editOrder(id: number, edit: OrderEdit): ShopifyOrderJson;
  /**
   * Creates `count` paid orders at once, as if placed long ago: no webhook, no stock moved. For tests and
   * benchmarks at scale; each order's number, email and total (in cents) is handed to `each`.
   */
  seedOrders(count: number, each?: (order: SeededOrder) => void): void;
}

export interface OrderEdit {
  /** By position: the first entry edits the first line. */
  lines: { quantity?: number; price?: string }[];
}

export interface SeededOrder {
  id: number;
  orderNumber: number;
  email: string;
  totalCents: number;
}

const versionPattern = /^\d{4}-(01|04|07|10)$|^unstable$/;
/** The API version the app's webhook subscriptions use: it shapes their payloads. */
const webhookApiVersion = "2025-07";
const invalidToken = "[API] Invalid API key or access token (unrecognized login or wrong password)";
const location = {
  id: 68_114_120_337,
  name: "Main Warehouse",
  address1: "88 Dock Street",
  address2: null,
  city: "Brooklyn",
  zip: "11201",
  province: "New York",
  province_code: "NY",
  country: "US",
  country_code: "US",
  country_name: "United States",
  phone: "+17185550142",
  legacy: false,
  active: true,
  localized_country_name: "United States",
  localized_province_name: "New York",
};

/** A Shopify-like store (see `StoreOptions`); register it as `{ store: createStore }`. */
export function createStore(context: SandboxContext, options: StoreOptions = {}): Store {
  const random = options.random ?? Math.random;
  const accessToken = options.accessToken ?? `shpat_${randomBytes(16).toString("hex")}`;
  const webhookSecret = options.webhookSecret ?? randomBytes(16).toString("hex");
  const shopDomain = options.shopDomain ?? "tenon-sandbox.myshopify.com";
  const currency = options.currency ?? "USD";
  const bucket = new LeakyBucket(options.bucketSize ?? 40, options.leakRatePerSecond ?? 2);
  const startedAt = context.now();
  let revoked = false;
  const counters = { apiCalls: 0, throttled: 0, unauthorized: 0, webhooksSent: 0, webhooksDropped: 0 };
  const maxKeptOrders = options.maxKeptOrders ?? maxKeptRecords;

  const products: Product[] = catalogue.map((item, index) => {
    const productId = 8_801_254_100_000 + index * 7;
    const variant: Variant = {
      id: 45_120_887_300_000 + index * 11,
      product_id: productId,
      inventory_item_id: 47_218_330_500_000 + index * 13,
      item,
      created_at: startedAt,
      updated_at: startedAt,
    };
    return { id: productId, variant, created_at: startedAt, updated_at: startedAt };
  });
  const variantsBySku = new Map(products.map((product) => [product.variant.item.sku, product.variant]));
  const variantsById = new Map(products.map((product) => [product.variant.id, product.variant]));
  const levels = new Map<number, Level>(
    products.map((product) => [
      product.variant.inventory_item_id,
      { available: product.variant.item.initialStock, updated_at: startedAt },
    ]),
  );
  const customers = new Map<string, Customer>();
  const orders = new Map<number, Order>();
  let nextOrderNumber = 1001;
  let nextLineId = 14_902_551_200_000;
  let nextCustomerId = 7_420_118_600_000;

  function levelOf(variant: Variant): Level {
    const level = levels.get(variant.inventory_item_id);
    if (!level) throw new Error(`no inventory level for ${variant.item.sku}`);
    return level;
  }

  function customerFor(email: string, firstName: string, lastName: string, phone: string | null): Customer {
    const key = email.toLowerCase();
    const existing = customers.get(key);
    if (existing) return existing;
    const now = context.now();
    const customer: Customer = {
      id: nextCustomerId++,
      email: key,
      first_name: firstName,
      last_name: lastName,
      phone,
      created_at: now,
      updated_at: now,
      orders_count: 0,
      total_spent_cents: 0,
      last_order_id: null,
      last_order_name: null,
      address: pick(addresses, random),
    };
    customers.set(key, customer);
    return customer;
  }

  function createOrder(input: {
    customer: Customer | null;
    email: string;
    lines: { variant: Variant | null; sku: string | null; title: string; price_cents: number; quantity: number }[];
    financialStatus: string;
    sourceName: string;
    decrementInventory: boolean;
    /** false: no webhook announces it (orders seeded in bulk). Default true. */
    announce?: boolean;
    shippingAddress: Address | null;
  }): Order {
    const now = context.now();
    const orderNumber = nextOrderNumber++;
    const order: Order = {
      id: 5_912_347_800_000 + (orderNumber - 1000) * 9,
      order_number: orderNumber,
      token: randomBytes(16).toString("hex"),
      email: input.email,
      customer: input.customer,
      lines: input.lines.map((line) => ({ ...line, id: nextLineId++ })),
      financial_status: input.financialStatus,
      source_name: input.sourceName,
      created_at: now,
      updated_at: now,
      processed_at: now,
      shipping_address: input.shippingAddress,
    };
    setKept(orders, order.id, order, undefined, maxKeptOrders);
    if (input.customer) {
      input.customer.orders_count += 1;
      input.customer.total_spent_cents += orderTotals(order).total;
      input.customer.last_order_id = order.id;
      input.customer.last_order_name = `#${order.order_number}`;
      input.customer.updated_at = now;
    }
    if (input.decrementInventory) {
      for (const line of order.lines) {
        if (!line.variant) continue;
        const level = levelOf(line.variant);
        level.available -= line.quantity;
        level.updated_at = now;
      }
    }
    if (input.announce === false) return order;
    sendWebhook("orders/create", order);
    if (order.financial_status === "paid") sendWebhook("orders/paid", order);
    return order;
  }

  function sendWebhook(topic: string, order: Order): void {
    if (context.dropsWebhook()) {
      // The provider lost it: the order exists, and nobody is told.
      counters.webhooksDropped += 1;
      return;
    }
    const body = JSON.stringify(orderJson(order, currency));
    const signature = createHmac("sha256", webhookSecret).update(body, "utf8").digest("base64");
    // One event id per event; one webhook id per delivery, kept on every retry of it.
    const webhookId = randomUUID();
    const headers = {
      "x-shopify-topic": topic,
      "x-shopify-hmac-sha256": signature,
      "x-shopify-shop-domain": shopDomain,
      "x-shopify-api-version": webhookApiVersion,
      "x-shopify-webhook-id": webhookId,
      "x-shopify-event-id": randomUUID(),
      "x-shopify-triggered-at": new Date(context.now()).toISOString(),
      "user-agent": "Shopify-Captain-Hook",
    };
    counters.webhooksSent += 1;
    context.webhooks.send({ id: webhookId, topic, body, headers: () => headers });
  }

  function placeOrder(input: PlaceOrderInput = {}): ShopifyOrderJson {
    const person = randomPerson(random);
    const firstName = input.firstName ?? (input.email ? nameFromEmail(input.email) : person.firstName);
    const lastName = input.lastName ?? (input.email ? "Customer" : person.lastName);
    const email = input.email ?? person.email;
    const customer = customerFor(email, firstName, lastName, input.email ? null : person.phone);
    const lines = (input.lines ?? randomLines(random)).map(({ sku, quantity }) => {
      const variant = variantsBySku.get(sku);
      if (!variant) throw Object.assign(new Error(`unknown SKU "${sku}"`), { statusCode: 422 });
      if (!Number.isInteger(quantity) || quantity < 1) {
        throw Object.assign(new Error(`quantity of ${sku} must be a whole number ≥ 1`), { statusCode: 422 });
      }
      return lineOf(variant, quantity);
    });
    if (lines.length === 0) throw Object.assign(new Error("an order needs at least one line"), { statusCode: 422 });
    const order = createOrder({
      customer,
      email: customer.email,
      lines,
      financialStatus: "pending",
      sourceName: "web",
      decrementInventory: true,
      shippingAddress: customer.address,
    });
    return orderJson(order, currency);
  }

  function payOrder(id: number): ShopifyOrderJson {
    const order = orders.get(id);
    if (!order) throw Object.assign(new Error(`no order ${id}`), { statusCode: 404 });
    if (order.financial_status === "paid") return orderJson(order, currency);
    order.financial_status = "paid";
    order.updated_at = context.now();
    sendWebhook("orders/paid", order);
    return orderJson(order, currency);
  }

  function editOrder(id: number, edit: OrderEdit): ShopifyOrderJson {
    const order = orders.get(id);
    if (!order) throw Object.assign(new Error(`no order ${id}`), { statusCode: 404 });
    if (!Array.isArray(edit?.lines) || edit.lines.length > order.lines.length) {
      throw Object.assign(
        new Error(`send { lines: [{ quantity?, price? }] } with at most ${order.lines.length} entries`),
        {
          statusCode: 422,
        },
      );
    }
    edit.lines.forEach((change, index) => {
      const line = order.lines[index];
      if (!line) return;
      if (change.quantity !== undefined) {
        if (!Number.isInteger(change.quantity) || change.quantity < 1) {
          throw Object.assign(new Error("a line's quantity must be a whole number ≥ 1"), { statusCode: 422 });
        }
        line.quantity = change.quantity;
      }
      if (change.price !== undefined) {
        if (!/^\d+(\.\d{1,2})?$/.test(change.price)) {
          throw Object.assign(new Error(`a line's price is a decimal string ("12.50"), got "${change.price}"`), {
            statusCode: 422,
          });
        }
        line.price_cents = Math.round(Number(change.price) * 100);
      }
    });
    order.updated_at = context.now();
    return orderJson(order, currency);
  }

  function seedOrders(count: number, each?: (order: SeededOrder) => void): void {
    for (let i = 0; i < count; i += 1) {
      const person = randomPerson(random);
      const customer = customerFor(person.email, person.firstName, person.lastName, person.phone);
      const order = createOrder({
        customer,
        email: customer.email,
        lines: randomLines(random).map(({ sku, quantity }) => lineOf(variantsBySku.get(sku) as Variant, quantity)),
        financialStatus: "paid",
        sourceName: "web",
        decrementInventory: false,
        shippingAddress: customer.address,
        announce: false,
      });
      each?.({
        id: order.id,
        orderNumber: order.order_number,
        email: order.email,
        totalCents: orderTotals(order).total,
      });
    }
  }

  function inventoryLevel(sku: string): number {
    const variant = variantsBySku.get(sku);
    if (!variant) throw new Error(`unknown SKU "${sku}"`);
    return levelOf(variant).available;
  }

  // ------------------------------------------------------------------------------------------ API

  function authenticate(request: FastifyRequest, reply: FastifyReply): FastifyReply | undefined {
    const token = request.headers["x-shopify-access-token"];
    if (revoked || token !== accessToken) {
      counters.unauthorized += 1;
      return reply.code(401).send({ errors: invalidToken });
    }
    const taken = bucket.take(token, context.now());
    reply.header("x-shopify-shop-api-call-limit", `${taken.used}/${bucket.size}`);
    if (!taken.admitted) {
      counters.throttled += 1;
      return reply
        .code(429)
        .header("retry-after", "2.0")
        .send({
          errors: `Exceeded ${bucket.leakRatePerSecond} calls per second for api client. Reduce request rates to resume uninterrupted service.`,
        });
    }
    counters.apiCalls += 1;
    return undefined;
  }

  function registerRoutes(app: FastifyInstance): void {
    app.addHook("preHandler", async (request, reply) => {
      const version = (request.params as { version?: string }).version ?? "";
      if (!versionPattern.test(version)) return reply.code(404).send({ errors: "Not Found" });
      reply.header("x-shopify-api-version", version);
      return authenticate(request, reply);
    });

    const base = "/admin/api/:version";
    app.get(`${base}/orders.json`, async (request, reply) => {
      const query = request.query as Record<string, string | undefined>;
      const page = readPage(query);
      const status = page.filters.status ?? "open";
      const financialStatus = page.filters.financial_status;
      const ids = idList(page.filters.ids);
      const createdMin = page.filters.created_at_min ? Date.parse(page.filters.created_at_min) : undefined;
      const updatedMin = page.filters.updated_at_min ? Date.parse(page.filters.updated_at_min) : undefined;
      // Orders are kept in the order they were made, which is their ids' order: a page reads on from its
      // `since_id` and stops one past its limit (sendPage then knows another page follows), instead of
      // filtering every order kept for every page.
      const after = page.sinceId ?? Number.NEGATIVE_INFINITY;
      const selected: Order[] = [];
      for (const order of orders.values()) {
        if (order.id <= after) continue;
        if (
          (status === "any" || status === "open") &&
          (!financialStatus || financialStatus === "any" || order.financial_status === financialStatus) &&
          (!ids || ids.has(order.id)) &&
          (createdMin === undefined || order.created_at >= createdMin) &&
          (updatedMin === undefined || order.updated_at >= updatedMin)
        ) {
          selected.push(order);
          if (selected.length > page.limit) break;
        }
      }
      return sendPage(request, reply, "orders", selected, page, (order) => orderJson(order, currency));
    });

    app.get(`${base}/orders/:id.json`, async (request, reply) => {
      const order = orders.get(Number((request.params as { id: string }).id));
      if (!order) return reply.code(404).send({ errors: "Not Found" });
      return { order: withFields(orderJson(order, currency), fieldsOf(request)) };
    });

    app.post(`${base}/orders.json`, async (request, reply) => {
      const input = (request.body as { order?: unknown } | undefined)?.order;
      if (typeof input !== "object" || input === null) {
        return reply.code(400).send({ errors: { order: "Required parameter missing or invalid" } });
      }
      const created = createApiOrder(input as ApiOrderInput);
      if ("errors" in created) return reply.code(422).send({ errors: created.errors });
      return reply.code(201).send({ order: orderJson(created.order, currency) });
    });

    app.get(`${base}/products.json`, async (request, reply) => {
      const page = readPage(request.query as Record<string, string | undefined>);
      const ids = idList(page.filters.ids);
      const selected = products.filter((product) => !ids || ids.has(product.id));
      return sendPage(request, reply, "products", selected, page, (product) =>
        productJson(product, levelOf(product.variant)),
      );
    });

    app.get(`${base}/products/:id.json`, async (request, reply) => {
      const id = Number((request.params as { id: string }).id);
      const product = products.find((candidate) => candidate.id === id);
      if (!product) return reply.code(404).send({ errors: "Not Found" });
      return { product: withFields(productJson(product, levelOf(product.variant)), fieldsOf(request)) };
    });

    app.get(`${base}/locations.json`, async () => ({
      locations: [
        {
          ...location,
          created_at: shopifyTime(startedAt),
          updated_at: shopifyTime(startedAt),
          admin_graphql_api_id: `gid://shopify/Location/${location.id}`,
        },
      ],
    }));

    app.get(`${base}/inventory_levels.json`, async (request, reply) => {
      const query = request.query as Record<string, string | undefined>;
      const itemIds = idList(query.inventory_item_ids);
      const locationIds = idList(query.location_ids);
      if (!itemIds && !locationIds) {
        return reply.code(422).send({ errors: "inventory_item_ids, location_ids, or both must be present" });
      }
      if (locationIds && !locationIds.has(location.id)) return { inventory_levels: [] };
      const found = [...levels]
        .filter(([itemId]) => !itemIds || itemIds.has(itemId))
        .map(([itemId, level]) => levelJson(itemId, level, location.id));
      return { inventory_levels: found };
    });

    app.post(`${base}/inventory_levels/set.json`, async (request, reply) => {
      const body = (request.body ?? {}) as Record<string, unknown>;
      for (const field of ["location_id", "inventory_item_id", "available"]) {
        if (!Number.isInteger(Number(body[field])) || body[field] === null || body[field] === "") {
          return reply.code(400).send({ errors: { [field]: "Required parameter missing or invalid" } });
        }
      }
      const itemId = Number(body.inventory_item_id);
      const level = levels.get(itemId);
      if (Number(body.location_id) !== location.id || !level) {
        return reply.code(422).send({ errors: ["Inventory item does not have inventory tracking at this location"] });
      }
      level.available = Number(body.available);
      level.updated_at = context.now();
      return { inventory_level: levelJson(itemId, level, location.id) };
    });

    app.get(`${base}/customers.json`, async (request, reply) => {
      const page = readPage(request.query as Record<string, string | undefined>);
      const ids = idList(page.filters.ids);
      const selected = [...customers.values()].filter((customer) => !ids || ids.has(customer.id));
      return sendPage(request, reply, "customers", selected, page, (customer) => customerJson(customer, currency));
    });
  }

  interface ApiOrderInput {
    email?: unknown;
    line_items?: unknown;
    customer?: { first_name?: unknown; last_name?: unknown; email?: unknown; phone?: unknown };
    financial_status?: unknown;
    inventory_behaviour?: unknown;
  }

  /** `POST orders.json` (https://shopify.dev/docs/api/admin-rest/2025-07/resources/order#post-orders): no payment is taken. */
  function createApiOrder(input: ApiOrderInput): { order: Order } | { errors: Record<string, string[]> } {
    const items = Array.isArray(input.line_items) ? (input.line_items as Record<string, unknown>[]) : [];
    if (items.length === 0) return { errors: { line_items: ["must have at least one line item"] } };
    const lines: Parameters<typeof createOrder>[0]["lines"] = [];
    for (const item of items) {
      const quantity = Number(item.quantity ?? 1);
      if (!Number.isInteger(quantity) || quantity < 1) return { errors: { line_items: ["quantity must be ≥ 1"] } };
      if (item.variant_id !== undefined) {
        const variant = variantsById.get(Number(item.variant_id));
        if (!variant) return { errors: { line_items: [`variant ${String(item.variant_id)} does not exist`] } };
        lines.push(lineOf(variant, quantity));
        continue;
      }
      if (typeof item.title !== "string" || !/^\d+(\.\d{1,2})?$/.test(String(item.price ?? ""))) {
        return { errors: { line_items: ["a custom line item needs a title and a price"] } };
      }
      const sku = typeof item.sku === "string" ? item.sku : null;
      const price = Math.round(Number(item.price) * 100);
      lines.push({ variant: null, sku, title: item.title, price_cents: price, quantity });
    }
    const given = input.customer ?? {};
    const email = String(input.email ?? given.email ?? "").toLowerCase();
    const customer = email
      ? customerFor(
          email,
          String(given.first_name ?? nameFromEmail(email)),
          String(given.last_name ?? ""),
          typeof given.phone === "string" ? given.phone : null,
        )
      : null;
    const behaviour = String(input.inventory_behaviour ?? "bypass");
    const financialStatus = typeof input.financial_status === "string" ? input.financial_status : "paid";
    const order = createOrder({
      customer,
      email,
      lines,
      financialStatus,
      sourceName: "api",
      decrementInventory: behaviour !== "bypass",
      shippingAddress: customer?.address ?? null,
    });
    return { order };
  }

  function lineOf(variant: Variant, quantity: number) {
    return {
      variant,
      sku: variant.item.sku,
      title: variant.item.title,
      price_cents: Math.round(Number(variant.item.price) * 100),
      quantity,
    };
  }

  /**
   * Cursor pagination as Shopify does it (https://shopify.dev/docs/api/usage/pagination-rest): `limit`
   * (≤ 250), and a `Link: <…page_info=…>; rel="next"` header while more remain; `page_info` carries the
   * original filters, so the next page's URL needs nothing else.
   */
  function sendPage<T extends { id: number }>(
    request: FastifyRequest,
    reply: FastifyReply,
    root: string,
    selected: T[],
    page: Page,
    render: (item: T) => object,
  ) {
    const after = page.sinceId;
    const remaining = selected.filter((item) => after === undefined || item.id > after).sort((a, b) => a.id - b.id);
    const shown = remaining.slice(0, page.limit);
    const last = shown.at(-1);
    if (last && remaining.length > shown.length) {
      const pageInfo = Buffer.from(JSON.stringify({ after: last.id, filters: page.filters })).toString("base64url");
      const version = (request.params as { version: string }).version;
      const fields = page.fields ? `&fields=${encodeURIComponent(page.fields.join(","))}` : "";
      const next = `${context.baseUrl()}/admin/api/${version}/${root}.json?limit=${page.limit}${fields}&page_info=${pageInfo}`;
      reply.header("link", `<${next}>; rel="next"`);
    }
    return { [root]: shown.map((item) => withFields(render(item), page.fields)) };
  }

  return {
    name: "store",
    webhookRetries: shopifyWebhookRetries,
    registerRoutes,
    registerControlRoutes(app) {
      app.post("/orders", async (request, reply) => {
        const body = (request.body ?? {}) as PlaceOrderInput;
        return reply.code(201).send(placeOrder(body));
      });
      app.post("/orders/:id/pay", async (request) => payOrder(Number((request.params as { id: string }).id)));
      // A person's edit in the shop's admin: no webhook (what reconciliation is for).
      app.patch("/orders/:id", async (request) =>
        editOrder(Number((request.params as { id: string }).id), (request.body ?? {}) as OrderEdit),
      );
    },
    state(): StoreState {
      return {
        shopDomain,
        location: { id: location.id, name: location.name },
        products: products.map((product) => ({
          id: product.id,
          title: product.variant.item.title,
          sku: product.variant.item.sku,
          variantId: product.variant.id,
          inventoryItemId: product.variant.inventory_item_id,
          available: levelOf(product.variant).available,
        })),
        orders: [...orders.values()].map((order) => ({
          id: order.id,
          name: `#${order.order_number}`,
          email: order.email,
          financialStatus: order.financial_status,
          totalPrice: money(orderTotals(order).total),
          lines: order.lines.map((line) => ({ sku: line.sku, quantity: line.quantity })),
        })),
        customers: [...customers.values()].map((customer) => ({
          id: customer.id,
          email: customer.email,
          ordersCount: customer.orders_count,
        })),
        counters: { orders: orders.size, customers: customers.size, ...counters },
        credentialsRevoked: revoked,
      };
    },
    counts: () => ({ orders: orders.size, customers: customers.size }),
    credentials: () => ({ token: accessToken, webhookSecret }),
    revokeCredentials() {
      revoked = true;
    },
    restoreCredentials() {
      revoked = false;
    },
    placeOrder,
    payOrder,
    inventoryLevel,
    editOrder,
    seedOrders,
  };
}

interface Page {
  limit: number;
  sinceId: number | undefined;
  fields: string[] | undefined;
  /** The list's filters (status, ids, …): from the query, or carried in `page_info`. */
  filters: Record<string, string | undefined>;
}

function readPage(query: Record<string, string | undefined>): Page {
  const limit = Math.min(250, Math.max(1, Number(query.limit ?? 50) || 50));
  const fields = query.fields ? query.fields.split(",").map((field) => field.trim()) : undefined;
  if (query.page_info) {
    try {
      const decoded = JSON.parse(Buffer.from(query.page_info, "base64url").toString("utf8")) as {
        after: number;
        filters: Record<string, string | undefined>;
      };
      return { limit, sinceId: decoded.after, fields, filters: decoded.filters };
    } catch {
      return { limit, sinceId: Number.MAX_SAFE_INTEGER, fields, filters: {} };
    }
  }
  const { limit: _limit, fields: _fields, since_id, ...filters } = query;
  return { limit, sinceId: since_id ? Number(since_id) : undefined, fields, filters };
}

function idList(value: string | undefined): Set<number> | undefined {
  if (!value) return undefined;
  return new Set(value.split(",").map((id) => Number(id.trim())));
}

function fieldsOf(request: FastifyRequest): string[] | undefined {
  const fields = (request.query as { fields?: string }).fields;
  return fields ? fields.split(",").map((field) => field.trim()) : undefined;
}

/** `?fields=id,variants`: only those properties of each resource. */
function withFields<T extends object>(resource: T, fields: string[] | undefined): Partial<T> {
  if (!fields) return resource;
  return Object.fromEntries(Object.entries(resource).filter(([key]) => fields.includes(key))) as Partial<T>;
}

function nameFromEmail(email: string): string {
  const local = email.split("@")[0] ?? "customer";
  const first = local.split(/[._+-]/)[0] || "customer";
  return first.charAt(0).toUpperCase() + first.slice(1);
}

function pick<T>(items: readonly T[], random: () => number): T {
  return items[Math.floor(random() * items.length)] as T;
}

const firstNames =
  "Olivia Liam Amara Noah Sofia Mateo Priya Lucas Hana Elias Chloe Kwame Ingrid Diego Mei Tomasz Aisha Jonas Lucia Ravi".split(
    " ",
  );
const lastNames = "Garcia Okafor Nguyen Schmidt Rossi Kowalski Haddad Tanaka Silva Brennan".split(" ");
const areaCodes = ["212", "415"];

/** One of 200 recurring customers (20 first names × 10 last names), so some buy more than once. */
function randomPerson(random: () => number): { firstName: string; lastName: string; email: string; phone: string } {
  const index = Math.floor(random() * firstNames.length * lastNames.length);
  const firstName = firstNames[index % firstNames.length] as string;
  const lastName = lastNames[Math.floor(index / firstNames.length)] as string;
  // 555-0100 to 555-0199 are reserved for fiction in every North American area code.
  const phone = `+1${areaCodes[index % 2]}55501${String(Math.floor(index / 2) % 100).padStart(2, "0")}`;
  return { firstName, lastName, email: `${firstName}.${lastName}@example.com`.toLowerCase(), phone };
}

function randomLines(random: () => number): { sku: string; quantity: number }[] {
  const count = 1 + Math.floor(random() * 3);
  const skus = new Set<string>();
  while (skus.size < count) skus.add(pick(catalogue, random).sku);
  return [...skus].map((sku) => ({ sku, quantity: 1 + Math.floor(random() * 3) }));
}

const addresses: readonly Address[] = [
  { address1: "350 Fifth Avenue", city: "New York", province: "New York", province_code: "NY", zip: "10118" },
  { address1: "1 Ferry Building", city: "San Francisco", province: "California", province_code: "CA", zip: "94111" },
  { address1: "233 S Wacker Dr", city: "Chicago", province: "Illinois", province_code: "IL", zip: "60606" },
  { address1: "400 Broad St", city: "Seattle", province: "Washington", province_code: "WA", zip: "98109" },
  { address1: "600 Congress Ave", city: "Austin", province: "Texas", province_code: "TX", zip: "78701" },
  { address1: "1 Boylston Plaza", city: "Boston", province: "Massachusetts", province_code: "MA", zip: "02116" },
  { address1: "1001 SW 5th Ave", city: "Portland", province: "Oregon", province_code: "OR", zip: "97204" },
  { address1: "100 Peachtree St NW", city: "Atlanta", province: "Georgia", province_code: "GA", zip: "30303" },
];
