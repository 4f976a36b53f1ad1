import { defineIntegration, definePoll, NonRetryableError } from "tenon";
import { type InventoryItem, inventory } from "tenon/connectors/inventory";
import { shopify } from "tenon/connectors/shopify";

/**
 * The inventory system has no webhooks: Tenon polls it for items changed since the cursor (the last
 * `updated_at` seen) and makes an event per change.
 */
export const inventoryChanges = definePoll<InventoryItem>({
  id: "inventory",
  // Each poll sees every SKU changed since the last one once, at its latest count: polling every 30 s keeps the
  // store's updates (three calls per SKU) well inside its 2 requests/s however busy the warehouse is.
  every: "30s",
  eventType: "inventory.item_changed",
  itemId: (item) => `${item.sku}:${item.updatedAt}`,
  // The cursor is the last change seen: every write gets a strictly later updated_at, so asking for
  // what changed after it never misses or repeats a change.
  async fetch({ cursor, connection }) {
    const page = await inventory.client(connection("inventory")).listItemsUpdatedSince({
      ...(cursor ? { updatedSince: cursor } : {}),
      limit: 100,
    });
    const last = page.items.at(-1);
    return { items: page.items, nextCursor: last?.updatedAt ?? cursor, hasMore: page.nextCursor !== null };
  },
});

/**
 * Each stock change is mirrored to the store's product: a set (not an increment), so replaying it
 * is harmless. One SKU at a time, in the order the changes were seen.
 */
export const inventorySync = defineIntegration<InventoryItem>({
  id: "inventory-sync",
  trigger: { event: "inventory.item_changed", source: "inventory" },
  concurrency: { key: (event) => event.payload.sku },
  entities: (event) => ({ sku: event.payload.sku }),
  retries: { maxAttempts: 12, initialDelay: "500ms", maxDelay: "15s" },

  async run({ event, step, connection }) {
    const item = event.payload;
    const store = shopify.client(connection("store"));
    const variant = await step.run("find-variant", async () => {
      const found = await store.findVariantBySku({ sku: item.sku });
      if (!found) throw new NonRetryableError(`the store sells no variant with SKU ${item.sku}`);
      return found;
    });
    const location = await step.run("find-location", async () => {
      const [first] = await store.listLocations({});
      if (!first) throw new NonRetryableError("the store has no location to hold stock");
      return first;
    });
    await step.run("set-store-stock", () =>
      store.setInventoryLevel({
        inventoryItemId: variant.inventoryItemId,
        locationId: location.id,
        available: item.onHand,
      }),
    );
    return { sku: item.sku, available: item.onHand };
  },
});
