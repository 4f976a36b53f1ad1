import { z } from "zod";

const item = z.looseObject({
  sku: z.string(),
  name: z.string(),
  /** Units in the warehouse; negative when orders wait for stock (backorder). */
  on_hand: z.number().int(),
  /** ISO 8601, UTC. */
  updated_at: z.string(),
});

const toItem = (raw: z.output<typeof item>) => ({
  sku: raw.sku,
  name: raw.name,
  onHand: raw.on_hand,
  updatedAt: raw.updated_at,
});

/** One stock item, as the operations return it. */
export interface InventoryItem {
  sku: string;
  name: string;
  onHand: number;
  /** ISO 8601, UTC; strictly later than any earlier write's. */
  updatedAt: string;
}

export const listItemsUpdatedSinceInput = z.object({
  /** Items changed after this time (ISO 8601 with a zone). Omit for every item. */
  updatedSince: z.iso.datetime({ offset: true }).optional(),
  /** The `nextCursor` of the previous page; it carries the position, so `updatedSince` is not needed with it. */
  cursor: z.string().min(1).optional(),
  /** 1 to 100; default 50. */
  limit: z.number().int().min(1).max(100).optional(),
});

export const listItemsUpdatedSinceOutput = z
  .looseObject({ items: z.array(item), next_cursor: z.string().nullable() })
  .transform((page): { items: InventoryItem[]; nextCursor: string | null } => ({
    items: page.items.map(toItem),
    nextCursor: page.next_cursor,
  }));

export const getItemInput = z.object({ sku: z.string().min(1) });
export const getItemOutput = item.transform((raw): InventoryItem => toItem(raw));

export const adjustStockInput = z.object({
  sku: z.string().min(1),
  /** Units added (positive) or taken (negative); not 0. */
  delta: z
    .number()
    .int()
    .refine((delta) => delta !== 0, { message: "delta must not be 0" }),
  /** Why: "sale", "return", "count", "damaged", … */
  reason: z.string().min(1).max(200),
  /** What it is for (an order number): kept on the adjustment, for people and reports. */
  reference: z.string().min(1).max(200).optional(),
  /**
   * The `Idempotency-Key` to send instead of the step's: a key of the business fact (an order's line), so that
   * another run for the same order (its event replayed, a reconciliation's repair) does not adjust the stock again.
   */
  idempotencyKey: z.string().min(1).max(255).optional(),
});

export const adjustStockOutput = z
  .looseObject({
    id: z.string(),
    sku: z.string(),
    delta: z.number().int(),
    reference: z.string().nullable(),
    on_hand: z.number().int(),
  })
  .transform((adjustment) => ({
    id: adjustment.id,
    sku: adjustment.sku,
    delta: adjustment.delta,
    /** The item's units on hand after this adjustment. */
    onHand: adjustment.on_hand,
    reference: adjustment.reference,
  }));

export type StockAdjustment = z.output<typeof adjustStockOutput>;
