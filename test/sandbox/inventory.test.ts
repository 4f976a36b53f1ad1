import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Sandbox } from "../../src/sandbox/create-sandbox.ts";
import { catalogue } from "../../src/sandbox/systems/catalogue.ts";
import { type AdjustmentJson, createInventory, type Inventory } from "../../src/sandbox/systems/inventory.ts";
import { startTestSandbox } from "../support/sandbox.ts";

// biome-ignore lint/suspicious/noExplicitAny: an answer's JSON, which the assertions check
type Json = any;
const read = (response: Response | Promise<Response>): Promise<Json> => Promise.resolve(response).then((r) => r.json());

let sandbox: Sandbox;
let apiKey: string;

function api(path: string, init: { body?: unknown; headers?: Record<string, string> } = {}) {
  return fetch(`${sandbox.baseUrl("inventory")}${path}`, {
    method: init.body === undefined ? "GET" : "POST",
    headers: {
      "x-api-key": apiKey,
      ...(init.body === undefined ? {} : { "content-type": "application/json" }),
      ...init.headers,
    },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
}

interface Page {
  items: { sku: string; name: string; on_hand: number; updated_at: string }[];
  next_cursor: string | null;
}

const inventory = () => sandbox.system<Inventory>("inventory");

beforeAll(async () => {
  sandbox = await startTestSandbox({ inventory: (context) => createInventory(context) });
  apiKey = sandbox.credentials("inventory").apiKey as string;
});

afterAll(async () => {
  await sandbox.close();
});

describe("inventory sandbox (warehouse API v1)", () => {
  it("refuses requests without the X-Api-Key, or once it is revoked", async () => {
    const missing = await api("/v1/items", { headers: { "x-api-key": "" } });
    expect(missing.status).toBe(401);
    expect(await read(missing)).toEqual({ error: "unauthorized", message: "missing or invalid X-Api-Key header" });
    sandbox.setFaults("inventory", { revokeCredentials: true });
    expect((await api("/v1/items")).status).toBe(401);
    sandbox.setFaults("inventory", { restoreCredentials: true });
    expect((await api("/v1/items")).status).toBe(200);
  });

  it("stocks the shared catalogue, one item per SKU", async () => {
    const page = (await read(api("/v1/items?limit=100"))) as Page;
    expect(page.items.map((item) => item.sku).sort()).toEqual(catalogue.map((item) => item.sku).sort());
    expect(page.next_cursor).toBeNull();
    const mug = await read(api("/v1/items/TEN-MUG-01"));
    expect(mug).toEqual({ sku: "TEN-MUG-01", name: "Stoneware Mug", on_hand: 1200, updated_at: expect.any(String) });
    const unknown = await api("/v1/items/NOPE");
    expect(unknown.status).toBe(404);
    expect((await read(unknown)).error).toBe("not_found");
  });

  it("records an adjustment (201) and lets stock go below zero as a backorder", async () => {
    const response = await api("/v1/items/TEN-HOOD-GRY-L/adjustments", {
      body: { delta: -401, reason: "sale", reference: "order #1001" },
    });
    expect(response.status).toBe(201);
    expect(await read(response)).toEqual({
      id: expect.stringMatching(/^adj_/),
      sku: "TEN-HOOD-GRY-L",
      delta: -401,
      reason: "sale",
      reference: "order #1001",
      on_hand: -1,
      created_at: expect.any(String),
    });
    expect(inventory().item("TEN-HOOD-GRY-L")?.on_hand).toBe(-1);
  });

  it("validates adjustments: a whole delta other than 0 and a reason", async () => {
    for (const body of [{ delta: 0, reason: "count" }, { delta: 1.5, reason: "count" }, { delta: 2 }]) {
      const response = await api("/v1/items/TEN-MUG-01/adjustments", { body });
      expect(response.status).toBe(400);
      expect((await read(response)).error).toBe("invalid_request");
    }
    expect((await api("/v1/items?limit=101")).status).toBe(400);
    expect((await api("/v1/items?updated_since=yesterday")).status).toBe(400);
  });

  it("makes one adjustment per Idempotency-Key: a replay answers the same, another body is refused with 422", async () => {
    const headers = { "idempotency-key": "order-1002:stock" };
    const body = { delta: -2, reason: "sale", reference: "order #1002" };
    const first = await api("/v1/items/TEN-MUG-01/adjustments", { body, headers });
    const again = await api("/v1/items/TEN-MUG-01/adjustments", { body, headers });
    expect(again.status).toBe(201);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(await read(again)).toEqual(await read(first));
    expect(inventory().adjustments("order #1002")).toHaveLength(1);

    const reused = await api("/v1/items/TEN-MUG-01/adjustments", { body: { ...body, delta: -3 }, headers });
    expect(reused.status).toBe(422);
    expect((await read(reused)).error).toBe("idempotency_key_reused");
    const state = (await read(fetch(`${sandbox.url}/_sandbox/inventory/state`))) as {
      adjustments: AdjustmentJson[];
    };
    expect(state.adjustments.filter((adjustment) => adjustment.reference === "order #1002")).toHaveLength(1);
  });

  it("lists items changed after updated_since, oldest first, in pages joined by next_cursor", async () => {
    const since = (await read(api("/v1/items?limit=100"))) as Page;
    const watermark = since.items.at(-1)?.updated_at as string;
    const changed = ["TEN-TOTE-01", "TEN-CAP-01", "TEN-SOCK-01", "TEN-BTL-750", "TEN-CAP-01"];
    for (const sku of changed) inventory().adjust({ sku, delta: 10, reason: "delivery" });

    const seen: Page["items"] = [];
    let page = (await read(api(`/v1/items?updated_since=${encodeURIComponent(watermark)}&limit=2`))) as Page;
    seen.push(...page.items);
    while (page.next_cursor) {
      page = (await read(api(`/v1/items?cursor=${page.next_cursor}&limit=2`))) as Page;
      seen.push(...page.items);
    }
    // Each item once, at its latest change; the one changed twice comes last.
    expect(seen.map((item) => item.sku)).toEqual(["TEN-TOTE-01", "TEN-SOCK-01", "TEN-BTL-750", "TEN-CAP-01"]);
    const times = seen.map((item) => item.updated_at);
    expect([...times].sort()).toEqual(times);
    expect(times.every((time) => time > watermark)).toBe(true);

    const nothingNew = (await read(
      api(`/v1/items?updated_since=${encodeURIComponent(times.at(-1) as string)}`),
    )) as Page;
    expect(nothingNew).toEqual({ items: [], next_cursor: null });
  });

  it("refuses a cursor it did not make", async () => {
    const response = await api("/v1/items?cursor=not-ours");
    expect(response.status).toBe(400);
    expect((await read(response)).error).toBe("invalid_cursor");
  });
});
