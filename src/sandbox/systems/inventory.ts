import { randomBytes } from "node:crypto";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { SandboxContext, SandboxSystem } from "../sandbox-system.ts";
import { catalogue } from "./catalogue.ts";
import { appendKept, rememberIdempotencyKey } from "./record-limits.ts";

/**
 * A warehouse inventory system with a small JSON API of its own ("v1", documented in
 * `src/connectors/inventory/README.md`): stock items polled by `updated_since`, and stock adjustments
 * that honour `Idempotency-Key`. It sends no webhooks: integrations poll it. It keeps the newest 50,000
 * adjustments (`maxKeptRecords`) and forgets idempotency keys once their 24 hours have passed, so hours
 * of demo traffic stay in bounded memory.
 */
export interface InventoryOptions {
  /** The `X-Api-Key`; default a random `inv_…`. */
  apiKey?: string;
}

export interface InventoryItemJson {
  sku: string;
  name: string;
  on_hand: number;
  updated_at: string;
}

export interface AdjustmentJson {
  id: string;
  sku: string;
  delta: number;
  reason: string;
  reference: string | null;
  on_hand: number;
  created_at: string;
}

export interface AdjustStockInput {
  sku: string;
  delta: number;
  reason: string;
  reference?: string | null;
}

export interface InventoryState {
  /** Ordered by (updated_at, sku), as the API lists them. */
  items: InventoryItemJson[];
  /** Every adjustment, oldest first. */
  adjustments: AdjustmentJson[];
  counters: { items: number; adjustments: number; replays: number; keyReuses: number };
  credentialsRevoked: boolean;
}

export interface Inventory extends SandboxSystem {
  state(): InventoryState;
  item(sku: string): InventoryItemJson | undefined;
  /** The warehouse changes its own stock (a delivery arrives, a count corrects it), as the API would. */
  adjust(input: AdjustStockInput): AdjustmentJson;
  /** Every adjustment so far, oldest first; with `reference`, only those made for it. */
  adjustments(reference?: string): AdjustmentJson[];
}

interface Item {
  sku: string;
  name: string;
  onHand: number;
  /** Epoch ms, strictly increasing across all writes (see `stamp`). */
  updatedAt: number;
}

interface IdempotencyRecord {
  fingerprint: string;
  createdAt: number;
  answer: AdjustmentJson;
}

const idempotencyWindowMs = 24 * 3_600_000;
const maxLimit = 100;
const defaultLimit = 50;

/** The inventory system (see `InventoryOptions`); register it as `{ inventory: createInventory }`. */
export function createInventory(context: SandboxContext, options: InventoryOptions = {}): Inventory {
  const apiKey = options.apiKey ?? `inv_${randomBytes(20).toString("hex")}`;
  const items = new Map<string, Item>();
  const adjustments: AdjustmentJson[] = [];
  const idempotency = new Map<string, IdempotencyRecord>();
  const counters = { replays: 0, keyReuses: 0 };
  let revoked = false;
  let lastWrite = 0;

  /**
   * Every write gets a later `updated_at` than the one before (1 ms apart at worst), so a poller that
   * asks for `updated_since=<the last updated_at it saw>` can never miss a write made in the same millisecond.
   */
  function stamp(): number {
    lastWrite = Math.max(context.now(), lastWrite + 1);
    return lastWrite;
  }

  for (const product of catalogue) {
    items.set(product.sku, { sku: product.sku, name: product.title, onHand: product.initialStock, updatedAt: stamp() });
  }

  function adjust(input: AdjustStockInput): AdjustmentJson {
    const item = items.get(input.sku);
    if (!item) throw Object.assign(new Error(`no item with SKU "${input.sku}"`), { statusCode: 404 });
    const at = stamp();
    // Stock may go below zero: the order is taken and waits as a backorder.
    item.onHand += input.delta;
    item.updatedAt = at;
    const adjustment: AdjustmentJson = {
      id: `adj_${randomBytes(10).toString("hex")}`,
      sku: item.sku,
      delta: input.delta,
      reason: input.reason,
      reference: input.reference ?? null,
      on_hand: item.onHand,
      created_at: new Date(at).toISOString(),
    };
    appendKept(adjustments, adjustment);
    return adjustment;
  }

  function registerRoutes(app: FastifyInstance): void {
    app.addHook("preHandler", async (request, reply) => {
      if (revoked || request.headers["x-api-key"] !== apiKey) {
        return reply.code(401).send(error("unauthorized", "missing or invalid X-Api-Key header"));
      }
    });

    app.get("/v1/items", async (request, reply) => {
      const query = request.query as Record<string, string | undefined>;
      const limit = query.limit === undefined ? defaultLimit : Number(query.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > maxLimit) {
        return reply.code(400).send(error("invalid_request", `limit must be a whole number from 1 to ${maxLimit}`));
      }
      const position = query.cursor !== undefined ? readCursor(query.cursor) : readSince(query.updated_since);
      if (typeof position === "string") return reply.code(400).send(error(position, describePositionError(position)));
      const ordered = [...items.values()].filter((item) => isAfter(item, position)).sort(compareItems);
      const page = ordered.slice(0, limit);
      const last = page.at(-1);
      return {
        items: page.map(itemJson),
        next_cursor: last && ordered.length > page.length ? writeCursor(last) : null,
      };
    });

    app.get("/v1/items/:sku", async (request, reply) => {
      const item = items.get((request.params as { sku: string }).sku);
      if (!item) return reply.code(404).send(error("not_found", "no item with this SKU"));
      return itemJson(item);
    });

    app.post("/v1/items/:sku/adjustments", async (request, reply) => {
      const sku = (request.params as { sku: string }).sku;
      const parsed = readAdjustment(request.body);
      if (typeof parsed === "string") return reply.code(400).send(error("invalid_request", parsed));
      const key = request.headers["idempotency-key"];
      if (typeof key !== "string" || key === "") return createAdjustment(reply, sku, parsed);
      const fingerprint = `${sku} ${JSON.stringify([parsed.delta, parsed.reason, parsed.reference ?? null])}`;
      const existing = idempotency.get(key);
      if (existing && existing.createdAt + idempotencyWindowMs > context.now()) {
        return replay(reply, key, existing, fingerprint);
      }
      if (!items.has(sku)) return reply.code(404).send(error("not_found", "no item with this SKU"));
      const adjustment = adjust({ sku, ...parsed });
      rememberIdempotencyKey(
        idempotency,
        key,
        { fingerprint, createdAt: context.now(), answer: adjustment },
        idempotencyWindowMs,
      );
      return reply.code(201).send(adjustment);
    });
  }

  function createAdjustment(reply: FastifyReply, sku: string, input: Omit<AdjustStockInput, "sku">) {
    if (!items.has(sku)) return reply.code(404).send(error("not_found", "no item with this SKU"));
    return reply.code(201).send(adjust({ sku, ...input }));
  }

  function replay(reply: FastifyReply, key: string, record: IdempotencyRecord, fingerprint: string) {
    if (record.fingerprint !== fingerprint) {
      counters.keyReuses += 1;
      return reply
        .code(422)
        .send(
          error(
            "idempotency_key_reused",
            `Idempotency-Key "${key}" was first used for a different adjustment; use a new key for a new adjustment`,
          ),
        );
    }
    counters.replays += 1;
    return reply.code(201).header("idempotent-replayed", "true").send(record.answer);
  }

  return {
    name: "inventory",
    registerRoutes,
    registerControlRoutes(app) {
      app.post("/items/:sku/adjustments", async (request: FastifyRequest, reply) => {
        const parsed = readAdjustment(request.body);
        if (typeof parsed === "string") return reply.code(400).send(error("invalid_request", parsed));
        return reply.code(201).send(adjust({ sku: (request.params as { sku: string }).sku, ...parsed }));
      });
    },
    state(): InventoryState {
      return {
        items: [...items.values()].sort(compareItems).map(itemJson),
        adjustments: [...adjustments],
        counters: { items: items.size, adjustments: adjustments.length, ...counters },
        credentialsRevoked: revoked,
      };
    },
    counts: () => ({ items: items.size, adjustments: adjustments.length }),
    credentials: () => ({ apiKey }),
    revokeCredentials() {
      revoked = true;
    },
    restoreCredentials() {
      revoked = false;
    },
    item(sku) {
      const found = items.get(sku);
      return found ? itemJson(found) : undefined;
    },
    adjust,
    adjustments: (reference) =>
      reference === undefined ? [...adjustments] : adjustments.filter((entry) => entry.reference === reference),
  };
}

/** Where a page starts: after this (updated_at, sku), or after a time. */
type Position = { updatedAt: number; sku: string } | { since: number } | null;

function isAfter(item: Item, position: Position): boolean {
  if (position === null) return true;
  if ("since" in position) return item.updatedAt > position.since;
  return item.updatedAt > position.updatedAt || (item.updatedAt === position.updatedAt && item.sku > position.sku);
}

function compareItems(a: Item, b: Item): number {
  return a.updatedAt - b.updatedAt || (a.sku < b.sku ? -1 : a.sku > b.sku ? 1 : 0);
}

function itemJson(item: Item): InventoryItemJson {
  return { sku: item.sku, name: item.name, on_hand: item.onHand, updated_at: new Date(item.updatedAt).toISOString() };
}

/** Opaque to clients; it holds the last (updated_at, sku) of the page, so it needs no other parameter. */
function writeCursor(item: Item): string {
  return Buffer.from(JSON.stringify([item.updatedAt, item.sku])).toString("base64url");
}

function readCursor(cursor: string): Position | "invalid_cursor" {
  try {
    const [updatedAt, sku] = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as unknown[];
    if (typeof updatedAt === "number" && typeof sku === "string") return { updatedAt, sku };
  } catch {
    // Falls through: anything that is not one of ours is refused below.
  }
  return "invalid_cursor";
}

function readSince(value: string | undefined): Position | "invalid_updated_since" {
  if (value === undefined) return null;
  const since = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(value)
    ? Date.parse(value)
    : Number.NaN;
  return Number.isNaN(since) ? "invalid_updated_since" : { since };
}

function describePositionError(code: string): string {
  return code === "invalid_cursor"
    ? "cursor is not one this API returned; start again from updated_since"
    : "updated_since must be an ISO 8601 date-time with a zone, e.g. 2026-01-31T12:00:00Z";
}

function readAdjustment(body: unknown): Omit<AdjustStockInput, "sku"> | string {
  if (typeof body !== "object" || body === null) return "the body must be a JSON object { delta, reason, reference? }";
  const { delta, reason, reference } = body as Record<string, unknown>;
  if (!Number.isSafeInteger(delta) || delta === 0) return "delta must be a whole number other than 0";
  if (typeof reason !== "string" || reason.trim() === "" || reason.length > 200) {
    return "reason must be a non-empty string of up to 200 characters";
  }
  if (reference !== undefined && reference !== null && (typeof reference !== "string" || reference.length > 200)) {
    return "reference must be a string of up to 200 characters";
  }
  return { delta: delta as number, reason, reference: (reference as string | null | undefined) ?? null };
}

function error(code: string, message: string): { error: string; message: string } {
  return { error: code, message };
}
