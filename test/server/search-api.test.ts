import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTenonServices, type TenonServices } from "../../src/app/tenon-services.ts";
import type { TenonConfig } from "../../src/config/define-config.ts";
import { readSettings } from "../../src/config/settings.ts";
import { createSandbox, type Sandbox } from "../../src/sandbox/create-sandbox.ts";
import { sandboxEnvironment } from "../../src/sandbox/sandbox-environment.ts";
import { builtInSystems } from "../../src/sandbox/systems/index.ts";
import type { createStore } from "../../src/sandbox/systems/store.ts";
import { importConfigAfresh } from "../../src/testing/import-config.ts";
import { backends, type TestDatabase } from "../support/backends.ts";
import { testVault } from "../support/connections.ts";
import { silentLogger } from "../support/engine.ts";
import type { TestResponse } from "../support/server.ts";
import { waitFor } from "../support/wait.ts";

const examplesConfig = new URL("../../examples/tenon.config.ts", import.meta.url);
const token = "search-api-token-1234";
type PlacedOrder = ReturnType<ReturnType<typeof createStore>["placeOrder"]>;

/**
 * The order-to-cash example on a few orders through the sandbox (two from one customer), then searched by
 * what an operator knows: the order number, the customer's e-mail, the invoice number.
 */
describe.each(backends)("GET /api/search after the order-to-cash flow on $name", (backend) => {
  let sandbox: Sandbox;
  let db: TestDatabase;
  let services: TenonServices;
  let orders: PlacedOrder[];
  const environmentBefore = { ...process.env };

  beforeAll(async () => {
    sandbox = createSandbox({ systems: builtInSystems });
    await sandbox.listen({ host: "127.0.0.1", port: 0 });
    db = backend.create();
    Object.assign(process.env, sandboxEnvironment(sandbox, Object.keys(builtInSystems)));
    // Evaluated anew for each backend: the config reads this sandbox's URL and credentials as it loads.
    const examples = await importConfigAfresh(examplesConfig);
    const config: TenonConfig = {
      ...examples,
      integrations: examples.integrations.filter((integration) => integration.id === "order-to-cash"),
      polls: [],
    };
    const settings = readSettings({ TENON_HTTP_PORT: "0", TENON_LOG_LEVEL: "silent", TENON_API_TOKENS: token });
    services = await startTenonServices({
      config,
      settings,
      storage: db.open(),
      vault: testVault(),
      logger: silentLogger,
    });
    sandbox.webhooks("store").url = `${services.address}/hooks/store`;
    const store = sandbox.system<ReturnType<typeof createStore>>("store");
    orders = [
      store.placeOrder({ email: "ada@example.com" }),
      store.placeOrder({ email: "Grace@Example.com" }),
      store.placeOrder({ email: "ada@example.com" }),
    ];
    await waitFor(
      "the three orders' runs to succeed",
      async () => (await services.engine.storage.countRunsByStatus()).succeeded === 3,
      30_000,
      100,
    );
  }, 60_000);

  afterAll(async () => {
    await services?.stop(5_000);
    await sandbox?.close();
    await db?.cleanup();
    for (const name of Object.keys(process.env)) if (!(name in environmentBefore)) delete process.env[name];
    Object.assign(process.env, environmentBefore);
  });

  async function search(query: Record<string, string>, headers = { authorization: `Bearer ${token}` }) {
    const response = await fetch(`${services.address}/api/search?${new URLSearchParams(query)}`, { headers });
    const text = await response.text();
    return { status: response.status, headers: response.headers, json: JSON.parse(text), text } as TestResponse;
  }

  const orderNumber = (index: number) => String((orders[index] as PlacedOrder).order_number);

  it("order:<n> finds the order's event, its run and every outbound request of that run, newest first", async () => {
    const { status, json } = await search({ q: `order:${orderNumber(1)}` });

    expect(status).toBe(200);
    expect(json.runs).toHaveLength(1);
    const [run] = json.runs;
    expect(run).toMatchObject({ integrationId: "order-to-cash", status: "succeeded" });
    const tags = run.tags.map((tag: { kind: string; value: string }) => `${tag.kind}:${tag.value}`);
    // Declared by the integration when the webhook was accepted, and added by its steps.
    expect(tags).toEqual(
      expect.arrayContaining([
        `order:${orderNumber(1)}`,
        "email:grace@example.com",
        `invoice:S-${orderNumber(1)}`,
        expect.stringMatching(/^contact:\S+$/),
      ]),
    );
    expect(json.events).toEqual([
      expect.objectContaining({ id: run.eventId, source: "store", type: "orders/create", status: "accepted" }),
    ]);
    expect(json.events[0]).not.toHaveProperty("payloadJson");

    const recorded = await services.engine.storage.connections.listAudit({ runId: run.id, limit: 1000 });
    expect(json.exchanges.map((exchange: { id: string }) => exchange.id)).toEqual(recorded.map((record) => record.id));
    expect(json.exchanges.every((exchange: { runId: string }) => exchange.runId === run.id)).toBe(true);
    const connections = new Set(json.exchanges.map((exchange: { connectionId: string }) => exchange.connectionId));
    expect(connections).toEqual(new Set(["crm", "accounting", "inventory", "email"]));
    const times = json.exchanges.map((exchange: { at: number }) => exchange.at);
    expect(times).toEqual([...times].sort((a, b) => b - a));
    expect(json.exchangesCut).toEqual([]);
    expect(json.nextCursor).toBeNull();
  });

  it("email:<x> finds every run of that customer, newest first, however the address is capitalised", async () => {
    const { status, json } = await search({ q: "email:ADA@example.com" });

    expect(status).toBe(200);
    const runOrders = json.runs.map(
      (run: { tags: { kind: string; value: string }[] }) => run.tags.find((tag) => tag.kind === "order")?.value,
    );
    expect(runOrders).toEqual([orderNumber(2), orderNumber(0)]);
    expect(json.events).toHaveLength(2);
    const runIds = new Set(json.runs.map((run: { id: string }) => run.id));
    expect(new Set(json.exchanges.map((exchange: { runId: string }) => exchange.runId))).toEqual(runIds);
  });

  it("GET /api/runs?entity= lists that entity's runs with the other filters, paged like any list", async () => {
    const runs = async (query: Record<string, string>) => {
      const response = await fetch(`${services.address}/api/runs?${new URLSearchParams(query)}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      return { status: response.status, json: JSON.parse(await response.text()) } as TestResponse;
    };
    const ada = (await search({ q: "email:ada@example.com" })).json.runs.map((run: { id: string }) => run.id);
    expect(ada).toHaveLength(2);

    const all = await runs({ entity: "email:ADA@example.com" });
    expect(all.status).toBe(200);
    expect(all.json.runs.map((run: { id: string }) => run.id)).toEqual(ada);
    const first = await runs({ entity: "email:ada@example.com", status: "succeeded", limit: "1" });
    const second = await runs({ entity: "email:ada@example.com", status: "succeeded", cursor: first.json.nextCursor });
    expect([...first.json.runs, ...second.json.runs].map((run: { id: string }) => run.id)).toEqual(ada);
    expect(second.json.nextCursor).toBeNull();
    expect((await runs({ entity: "email:ada@example.com", status: "dead" })).json.runs).toEqual([]);
    expect((await runs({ entity: "order:0" })).json).toEqual({ runs: [], nextCursor: null });
    const bad = await runs({ entity: "ada" });
    expect(bad.status).toBe(400);
    expect(bad.json.error).toBe("invalid_entity");
  });

  it("several terms must all match; an invoice number finds the run that created the invoice", async () => {
    const both = await search({ q: `email:ada@example.com order:${orderNumber(0)}` });
    expect(both.json.runs.map((run: { id: string }) => run.id)).toHaveLength(1);
    const neither = await search({ q: `email:ada@example.com order:${orderNumber(1)}` });
    expect(neither.json).toMatchObject({ runs: [], events: [], exchanges: [], nextCursor: null });

    const invoice = await search({ q: `invoice:S-${orderNumber(2)}` });
    expect(invoice.json.runs).toHaveLength(1);
    expect(invoice.json.runs[0].tags).toContainEqual({ kind: "order", value: orderNumber(2) });
  });

  it("pages with limit and the cursor it returns: each run once, then no cursor", async () => {
    const first = await search({ q: "email:ada@example.com", limit: "1" });
    expect(first.json.runs).toHaveLength(1);
    expect(first.json.nextCursor).toEqual(expect.any(String));
    const second = await search({ q: "email:ada@example.com", limit: "1", cursor: first.json.nextCursor });
    expect(second.json.runs).toHaveLength(1);
    expect(second.json.runs[0].id).not.toBe(first.json.runs[0].id);
    expect(second.json.nextCursor).toBeNull();
  });

  it("answers 400 with what to type for a missing or malformed query, limit or cursor, and 401 without a token", async () => {
    const missing = await search({});
    expect(missing.status).toBe(400);
    expect(missing.json).toEqual({
      error: "invalid_query",
      message: expect.stringContaining("say what to search for as kind:value (e.g. order:1001"),
    });
    const bare = await search({ q: "1001" });
    expect(bare.status).toBe(400);
    expect(bare.json.message).toContain('"1001" is not kind:value');
    const empty = await search({ q: "order:" });
    expect(empty.status).toBe(400);
    expect(empty.json.message).toContain('"order:" is not kind:value');
    const badKind = await search({ q: "Order_Number!:1001" });
    expect(badKind.status).toBe(400);
    expect(badKind.json.message).toContain('entity kind "order_number!" must be 1-50 characters of a-z');
    const tooMany = await search({ q: "a:1 b:2 c:3 d:4 e:5 f:6" });
    expect(tooMany.json.message).toContain("at most 5 kind:value terms");
    const limit = await search({ q: "order:1", limit: "0" });
    expect(limit.json).toMatchObject({ error: "invalid_limit" });
    const cursor = await search({ q: "order:1", cursor: "not-a-cursor" });
    expect(cursor.status).toBe(400);
    expect(cursor.json.message).toContain("pass nextCursor from the previous page");

    const anonymous = await search({ q: `order:${orderNumber(0)}` }, { authorization: "" });
    expect(anonymous.status).toBe(401);
    expect(anonymous.json.error).toBe("unauthorized");
  });
});
