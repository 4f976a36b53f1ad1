import type { CatalogueProduct } from "./catalogue.ts";

/**
 * The records the sandbox's store keeps (orders, customers, products, inventory levels) and how
 * Shopify's REST Admin API and its webhooks render them: snake_case, money as decimal strings with
 * `*_set` twins, times with an offset, `admin_graphql_api_id`s, and the fields a real shop answers with.
 */

/** An order as the Admin API and the webhooks render it (snake_case, money as decimal strings); more fields than named. */
export interface ShopifyOrderJson {
  id: number;
  admin_graphql_api_id: string;
  name: string;
  order_number: number;
  email: string;
  created_at: string;
  updated_at: string;
  currency: string;
  subtotal_price: string;
  total_tax: string;
  total_price: string;
  financial_status: string;
  customer: {
    id: number;
    email: string;
    first_name: string;
    last_name: string;
    phone: string | null;
    [field: string]: unknown;
  } | null;
  line_items: {
    id: number;
    sku: string | null;
    title: string;
    quantity: number;
    price: string;
    variant_id: number | null;
    product_id: number | null;
    [field: string]: unknown;
  }[];
  shipping_address: Record<string, unknown> | null;
  [field: string]: unknown;
}

export interface Customer {
  id: number;
  email: string;
  first_name: string;
  last_name: string;
  phone: string | null;
  created_at: number;
  updated_at: number;
  orders_count: number;
  total_spent_cents: number;
  last_order_id: number | null;
  last_order_name: string | null;
  address: Address;
}

export interface Address {
  address1: string;
  city: string;
  province: string;
  province_code: string;
  zip: string;
}

export interface Variant {
  id: number;
  product_id: number;
  inventory_item_id: number;
  item: CatalogueProduct;
  created_at: number;
  updated_at: number;
}

export interface Product {
  id: number;
  variant: Variant;
  created_at: number;
  updated_at: number;
}

export interface Level {
  available: number;
  updated_at: number;
}

export interface OrderLine {
  id: number;
  variant: Variant | null;
  sku: string | null;
  title: string;
  price_cents: number;
  quantity: number;
}

export interface Order {
  id: number;
  order_number: number;
  token: string;
  email: string;
  customer: Customer | null;
  lines: OrderLine[];
  financial_status: string;
  source_name: string;
  created_at: number;
  updated_at: number;
  processed_at: number;
  shipping_address: Address | null;
}

/** The sandbox shop charges one flat sales tax on every line. */
const taxRate = 0.08;

/** In cents: the lines' sum, the tax on it, and what the customer pays. */
export function orderTotals(order: Order): { subtotal: number; tax: number; total: number } {
  const subtotal = order.lines.reduce((sum, line) => sum + line.price_cents * line.quantity, 0);
  const tax = Math.round(subtotal * taxRate);
  return { subtotal, tax, total: subtotal + tax };
}

/** `59.99`: Shopify's money is a decimal string. */
export function money(cents: number): string {
  return (cents / 100).toFixed(2);
}

function moneySet(cents: number, currency: string) {
  return {
    shop_money: { amount: money(cents), currency_code: currency },
    presentment_money: { amount: money(cents), currency_code: currency },
  };
}

export function customerJson(customer: Customer, currency: string) {
  return {
    id: customer.id,
    email: customer.email,
    created_at: shopifyTime(customer.created_at),
    updated_at: shopifyTime(customer.updated_at),
    first_name: customer.first_name,
    last_name: customer.last_name,
    orders_count: customer.orders_count,
    state: "enabled",
    total_spent: money(customer.total_spent_cents),
    last_order_id: customer.last_order_id,
    note: null,
    verified_email: true,
    multipass_identifier: null,
    tax_exempt: false,
    tags: "",
    last_order_name: customer.last_order_name,
    currency,
    phone: customer.phone,
    admin_graphql_api_id: `gid://shopify/Customer/${customer.id}`,
    default_address: { ...addressJson(customer.address, customer), id: customer.id + 1, default: true },
  };
}

export function addressJson(address: Address, person: { first_name: string; last_name: string; phone: string | null }) {
  return {
    first_name: person.first_name,
    last_name: person.last_name,
    name: `${person.first_name} ${person.last_name}`,
    company: null,
    address1: address.address1,
    address2: null,
    city: address.city,
    province: address.province,
    province_code: address.province_code,
    zip: address.zip,
    country: "United States",
    country_code: "US",
    phone: person.phone,
  };
}

export function orderJson(order: Order, currency: string): ShopifyOrderJson {
  const { subtotal, tax, total } = orderTotals(order);
  const customer = order.customer;
  const lineItems = order.lines.map((line) => ({
    id: line.id,
    admin_graphql_api_id: `gid://shopify/LineItem/${line.id}`,
    current_quantity: line.quantity,
    fulfillable_quantity: line.quantity,
    fulfillment_service: "manual",
    fulfillment_status: null,
    gift_card: false,
    grams: 300,
    name: line.title,
    price: money(line.price_cents),
    price_set: moneySet(line.price_cents, currency),
    product_exists: line.variant !== null,
    product_id: line.variant?.product_id ?? null,
    properties: [],
    quantity: line.quantity,
    requires_shipping: true,
    sku: line.sku,
    taxable: true,
    title: line.title,
    total_discount: "0.00",
    variant_id: line.variant?.id ?? null,
    variant_inventory_management: line.variant ? "shopify" : null,
    variant_title: null,
    vendor: "Tenon Goods",
    tax_lines: [],
    discount_allocations: [],
  }));
  return {
    id: order.id,
    admin_graphql_api_id: `gid://shopify/Order/${order.id}`,
    browser_ip: null,
    buyer_accepts_marketing: false,
    cancel_reason: null,
    cancelled_at: null,
    closed_at: null,
    confirmation_number: order.token.slice(0, 9).toUpperCase(),
    confirmed: true,
    contact_email: order.email,
    created_at: shopifyTime(order.created_at),
    currency,
    current_subtotal_price: money(subtotal),
    current_total_price: money(total),
    current_total_tax: money(tax),
    customer_locale: "en",
    email: order.email,
    financial_status: order.financial_status,
    fulfillment_status: null,
    name: `#${order.order_number}`,
    note: null,
    number: order.order_number - 1000,
    order_number: order.order_number,
    payment_gateway_names: ["manual"],
    phone: customer?.phone ?? null,
    presentment_currency: currency,
    processed_at: shopifyTime(order.processed_at),
    source_name: order.source_name,
    subtotal_price: money(subtotal),
    subtotal_price_set: moneySet(subtotal, currency),
    tags: "",
    tax_lines: [{ price: money(tax), rate: taxRate, title: "Sales Tax", price_set: moneySet(tax, currency) }],
    taxes_included: false,
    test: false,
    token: order.token,
    total_discounts: "0.00",
    total_line_items_price: money(subtotal),
    total_price: money(total),
    total_price_set: moneySet(total, currency),
    total_tax: money(tax),
    total_tax_set: moneySet(tax, currency),
    total_weight: lineItems.reduce((sum, line) => sum + line.grams * line.quantity, 0),
    updated_at: shopifyTime(order.updated_at),
    billing_address: order.shipping_address && customer ? addressJson(order.shipping_address, customer) : null,
    customer: customer
      ? {
          id: customer.id,
          email: customer.email,
          first_name: customer.first_name,
          last_name: customer.last_name,
          phone: customer.phone,
          created_at: shopifyTime(customer.created_at),
          updated_at: shopifyTime(customer.updated_at),
          state: "enabled",
          verified_email: true,
          currency,
          tags: "",
          admin_graphql_api_id: `gid://shopify/Customer/${customer.id}`,
        }
      : null,
    line_items: lineItems,
    shipping_address: order.shipping_address && customer ? addressJson(order.shipping_address, customer) : null,
    shipping_lines: [],
  };
}

export function productJson(product: Product, level: Level) {
  const { variant } = product;
  const handle = variant.item.title.toLowerCase().replace(/[^a-z0-9]+/g, "-");
  return {
    id: product.id,
    title: variant.item.title,
    body_html: `<p>${variant.item.title}, from the Tenon Goods collection.</p>`,
    vendor: "Tenon Goods",
    product_type: "Merchandise",
    created_at: shopifyTime(product.created_at),
    handle: handle.replace(/^-|-$/g, ""),
    updated_at: shopifyTime(Math.max(product.updated_at, level.updated_at)),
    published_at: shopifyTime(product.created_at),
    template_suffix: null,
    published_scope: "global",
    tags: "",
    status: "active",
    admin_graphql_api_id: `gid://shopify/Product/${product.id}`,
    variants: [
      {
        id: variant.id,
        product_id: product.id,
        title: "Default Title",
        price: variant.item.price,
        position: 1,
        inventory_policy: "deny",
        compare_at_price: null,
        option1: "Default Title",
        option2: null,
        option3: null,
        created_at: shopifyTime(variant.created_at),
        updated_at: shopifyTime(Math.max(variant.updated_at, level.updated_at)),
        taxable: true,
        barcode: null,
        fulfillment_service: "manual",
        grams: 300,
        inventory_management: "shopify",
        requires_shipping: true,
        sku: variant.item.sku,
        weight: 0.3,
        weight_unit: "kg",
        inventory_item_id: variant.inventory_item_id,
        inventory_quantity: level.available,
        old_inventory_quantity: level.available,
        admin_graphql_api_id: `gid://shopify/ProductVariant/${variant.id}`,
        image_id: null,
      },
    ],
    options: [{ id: product.id + 3, product_id: product.id, name: "Title", position: 1, values: ["Default Title"] }],
    images: [],
    image: null,
  };
}

export function levelJson(inventoryItemId: number, level: Level, locationId: number) {
  return {
    inventory_item_id: inventoryItemId,
    location_id: locationId,
    available: level.available,
    updated_at: shopifyTime(level.updated_at),
    admin_graphql_api_id: `gid://shopify/InventoryLevel/${locationId}?inventory_item_id=${inventoryItemId}`,
  };
}

/** Shopify renders times in the shop's zone with an offset; the sandbox shop is on UTC. */
export function shopifyTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "+00:00");
}
