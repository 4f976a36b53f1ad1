import type { ConnectionCredentials } from "../../connections/connection-config.ts";
import { defineConnector, defineOperation } from "../define-connector.ts";
import {
  findVariantBySkuInput,
  findVariantBySkuOutput,
  getOrderInput,
  getOrderOutput,
  listLocationsInput,
  listLocationsOutput,
  setInventoryLevelInput,
  setInventoryLevelOutput,
} from "./schemas.ts";

export * from "./schemas.ts";

/** The REST Admin API version the requests follow (https://shopify.dev/docs/api/usage/versioning). */
export const shopifyApiVersion = "2025-07";

export interface ShopifyOptions {
  /** The shop's origin: `https://acme.myshopify.com`, or the sandbox's `sandbox.baseUrl("store")`. */
  baseUrl: string;
  /** `{ apiKey }`: the Admin API access token (`shpat_…`). */
  credentials?: ConnectionCredentials;
  /** Default "2025-07". */
  apiVersion?: string;
}

/** Enough pages for 25 000 products; a shop with more needs a SKU index of its own. */
const maxPages = 100;

/**
 * Shopify's REST Admin API: orders, product variants and inventory levels of one shop. It has no
 * idempotency keys; the writes here are sets, safe to repeat. Orders arrive as webhooks.
 */
export const shopify = defineConnector({
  id: "shopify",
  title: "Shopify",
  apiVersion: `REST Admin API ${shopifyApiVersion}`,
  connection: (options: ShopifyOptions) => ({
    // Every path is under the version's prefix, so operations name only the resource (`orders/1.json`).
    baseUrl: `${options.baseUrl.replace(/\/+$/, "")}/admin/api/${options.apiVersion ?? shopifyApiVersion}`,
    auth: { type: "apiKey", in: "header", name: "X-Shopify-Access-Token" },
    ...(options.credentials ? { credentials: options.credentials } : {}),
    headers: { Accept: "application/json" },
    // The leaky bucket of standard plans: 40 requests, leaking 2 a second (https://shopify.dev/docs/api/usage/limits).
    rateLimit: "2/s burst 40",
    idempotencyHeader: false,
  }),
  webhooks: { provider: "shopify", dedupKey: "X-Shopify-Event-Id" },
  operations: {
    getOrder: defineOperation({
      description: "Reads one order by its id",
      input: getOrderInput,
      output: getOrderOutput,
      idempotency: "read",
      async call(client, input) {
        return (await client.get(`orders/${input.id}.json`)).body;
      },
    }),
    listLocations: defineOperation({
      description: "Lists the shop's locations (where stock is held)",
      input: listLocationsInput,
      output: listLocationsOutput,
      idempotency: "read",
      async call(client) {
        return (await client.get("locations.json")).body;
      },
    }),
    findVariantBySku: defineOperation({
      description: "Finds the product variant with a SKU (and its inventory item), or null",
      input: findVariantBySkuInput,
      output: findVariantBySkuOutput,
      idempotency: "read",
      async call(client, input) {
        // The REST API cannot filter variants by SKU: the products are paged through, ids and variants only.
        const pages: unknown[] = [];
        let next: string | undefined = "products.json";
        let query: Record<string, string | number> | undefined = { fields: "id,variants", limit: 250 };
        while (next !== undefined && pages.length < maxPages) {
          const page = await client.get(next, query ? { query } : {});
          pages.push(page.body);
          if (containsSku(page.body, input.sku)) break;
          next = nextPageUrl(page.headers.link);
          query = undefined;
        }
        return { sku: input.sku, pages };
      },
    }),
    setInventoryLevel: defineOperation({
      description: "Sets the units available of an inventory item at a location",
      input: setInventoryLevelInput,
      output: setInventoryLevelOutput,
      // A set, not an adjustment: repeating it leaves the same level.
      idempotency: "natural",
      async call(client, input) {
        const answer = await client.post("inventory_levels/set.json", {
          json: { location_id: input.locationId, inventory_item_id: input.inventoryItemId, available: input.available },
        });
        return answer.body;
      },
    }),
  },
});

/** The `rel="next"` URL of a Link header (https://shopify.dev/docs/api/usage/pagination-rest). */
function nextPageUrl(link: string | undefined): string | undefined {
  for (const part of (link ?? "").split(",")) {
    const match = /<([^>]+)>\s*;\s*rel="?next"?/.exec(part.trim());
    if (match) return match[1];
  }
  return undefined;
}

/** Stops the paging early once the SKU is on a page; the output schema does the real reading. */
function containsSku(body: unknown, sku: string): boolean {
  const products = (body as { products?: unknown } | null)?.products;
  if (!Array.isArray(products)) return false;
  return products.some((product) => {
    const variants = (product as { variants?: unknown } | null)?.variants;
    return Array.isArray(variants) && variants.some((variant) => (variant as { sku?: unknown } | null)?.sku === sku);
  });
}
