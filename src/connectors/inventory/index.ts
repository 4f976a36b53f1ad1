import type { ConnectionCredentials } from "../../connections/connection-config.ts";
import { defineConnector, defineOperation } from "../define-connector.ts";
import {
  adjustStockInput,
  adjustStockOutput,
  getItemInput,
  getItemOutput,
  listItemsUpdatedSinceInput,
  listItemsUpdatedSinceOutput,
} from "./schemas.ts";

export * from "./schemas.ts";

export interface InventoryOptions {
  /** Where the warehouse API is served (its `/v1` is added by the operations); the sandbox's is `sandbox.baseUrl("inventory")`. */
  baseUrl: string;
  /** `{ apiKey }`, sent as `X-Api-Key`. */
  credentials?: ConnectionCredentials;
}

/**
 * The warehouse inventory API (v1, described in this folder's README): stock items polled by
 * `updated_since`, and stock adjustments made once per `Idempotency-Key`. It sends no webhooks.
 */
export const inventory = defineConnector({
  id: "inventory",
  title: "Warehouse inventory",
  apiVersion: "v1",
  connection: (options: InventoryOptions) => ({
    baseUrl: options.baseUrl,
    auth: { type: "apiKey", in: "header", name: "X-Api-Key" },
    ...(options.credentials ? { credentials: options.credentials } : {}),
    headers: { Accept: "application/json" },
    rateLimit: "20/s",
    idempotencyHeader: "Idempotency-Key",
  }),
  operations: {
    listItemsUpdatedSince: defineOperation({
      description: "Lists items changed after a time (or after a cursor), oldest change first",
      input: listItemsUpdatedSinceInput,
      output: listItemsUpdatedSinceOutput,
      idempotency: "read",
      async call(client, input) {
        const query = { updated_since: input.updatedSince, cursor: input.cursor, limit: input.limit };
        return (await client.get("/v1/items", { query })).body;
      },
    }),
    getItem: defineOperation({
      description: "Reads one item by SKU",
      input: getItemInput,
      output: getItemOutput,
      idempotency: "read",
      async call(client, input) {
        return (await client.get(`/v1/items/${encodeURIComponent(input.sku)}`)).body;
      },
    }),
    adjustStock: defineOperation({
      description: "Adds or takes units of an item (a sale takes, a return adds)",
      input: adjustStockInput,
      output: adjustStockOutput,
      // The step's Idempotency-Key (or the caller's) makes a retried adjustment a replay, not a second decrement.
      idempotency: "header",
      async call(client, input) {
        const path = `/v1/items/${encodeURIComponent(input.sku)}/adjustments`;
        const json = { delta: input.delta, reason: input.reason, reference: input.reference };
        const key = input.idempotencyKey === undefined ? {} : { idempotencyKey: input.idempotencyKey };
        return (await client.post(path, { json, ...key })).body;
      },
    }),
  },
});
