import { z } from "zod";

/** REST Admin API ids are JSON numbers (they fit a double); a numeric string is accepted too. */
const shopifyId = z.union([z.number().int().positive(), z.string().regex(/^\d+$/).transform(Number)]);

const orderCustomer = z.looseObject({
  id: z.number().int(),
  email: z.string().nullable(),
  first_name: z.string().nullable(),
  last_name: z.string().nullable(),
  phone: z.string().nullable(),
});

const orderLineItem = z.looseObject({
  id: z.number().int(),
  sku: z.string().nullable(),
  title: z.string(),
  quantity: z.number().int(),
  /** Unit price, a decimal string ("29.00"). */
  price: z.string(),
  variant_id: z.number().int().nullable(),
  product_id: z.number().int().nullable(),
});

const address = z.looseObject({
  name: z.string().nullish(),
  address1: z.string().nullish(),
  city: z.string().nullish(),
  zip: z.string().nullish(),
  country_code: z.string().nullish(),
});

/**
 * An order as `GET orders/{id}.json` answers it and as the `orders/create` and `orders/paid` webhooks
 * carry it (https://shopify.dev/docs/api/admin-rest/2025-07/resources/order). Money is a decimal
 * string in the shop's currency; the fields named here are checked, every other one is kept.
 */
export const shopifyOrderSchema = z.looseObject({
  id: z.number().int(),
  admin_graphql_api_id: z.string(),
  /** "#1001". */
  name: z.string(),
  order_number: z.number().int(),
  /** Null (or "") for an order taken without an email, at a point of sale for instance. */
  email: z.string().nullable(),
  created_at: z.string(),
  updated_at: z.string(),
  /** ISO 4217, upper case. */
  currency: z.string(),
  subtotal_price: z.string(),
  total_tax: z.string(),
  total_price: z.string(),
  /** "pending", "authorized", "paid", "refunded", …; null on some imported orders. */
  financial_status: z.string().nullable(),
  customer: orderCustomer.nullish(),
  line_items: z.array(orderLineItem),
  shipping_address: address.nullish(),
});

export type ShopifyOrder = z.output<typeof shopifyOrderSchema>;

export const getOrderInput = z.object({ id: shopifyId });
export const getOrderOutput = z.looseObject({ order: shopifyOrderSchema }).transform((answer) => answer.order);

/** No input: `listLocations()` (or `listLocations({})`). */
export const listLocationsInput = z.union([z.void(), z.object({})]);
export const listLocationsOutput = z
  .looseObject({ locations: z.array(z.looseObject({ id: z.number().int(), name: z.string() })) })
  .transform((answer) => answer.locations.map(({ id, name }) => ({ id, name })));

export type ShopifyLocation = z.output<typeof listLocationsOutput>[number];

export const findVariantBySkuInput = z.object({ sku: z.string().min(1) });

const productVariants = z.looseObject({
  id: z.number().int(),
  variants: z.array(
    z.looseObject({
      id: z.number().int(),
      sku: z.string().nullable(),
      inventory_item_id: z.number().int(),
    }),
  ),
});

/** What `findVariantBySku` collects: the SKU asked for and the answer of every `products.json` page. */
export const findVariantBySkuOutput = z
  .object({ sku: z.string(), pages: z.array(z.looseObject({ products: z.array(productVariants) })) })
  .transform(({ sku, pages }) => {
    for (const product of pages.flatMap((page) => page.products)) {
      const variant = product.variants.find((candidate) => candidate.sku === sku);
      if (variant) {
        return { productId: product.id, variantId: variant.id, inventoryItemId: variant.inventory_item_id, sku };
      }
    }
    return null;
  });

export type ShopifyVariantRef = NonNullable<z.output<typeof findVariantBySkuOutput>>;

export const setInventoryLevelInput = z.object({
  inventoryItemId: shopifyId,
  locationId: shopifyId,
  /** The units available at the location after the call (may be negative: oversold). */
  available: z.number().int(),
});

export const setInventoryLevelOutput = z
  .looseObject({
    inventory_level: z.looseObject({
      inventory_item_id: z.number().int(),
      location_id: z.number().int(),
      available: z.number().int().nullable(),
      updated_at: z.string(),
    }),
  })
  .transform(({ inventory_level: level }) => ({
    inventoryItemId: level.inventory_item_id,
    locationId: level.location_id,
    available: level.available,
    updatedAt: level.updated_at,
  }));

export type ShopifyInventoryLevel = z.output<typeof setInventoryLevelOutput>;
