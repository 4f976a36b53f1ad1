import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Poller } from "../../../src/ingestion/polling/poller.ts";
import { systemClock } from "../../../src/runtime/clock.ts";
import { definePoll, type Poll } from "../../../src/sdk/define-poll.ts";
import { backends, useTestStorage } from "../../support/backends.ts";
import { testConnections } from "../../support/connections.ts";
import { silentLogger } from "../../support/engine.ts";
import { LoopbackServer } from "../../support/loopback-server.ts";
import { waitFor } from "../../support/wait.ts";

const pollId = "warehouse-items";
/** Short, so that a lapse happens within the test: the poller's fence falls at 3/4 of it. */
const leaseMs = 1000;
const pageSize = 3;

interface Item {
  id: string;
  position: number;
  name: string;
}

/**
 * A warehouse API without webhooks: `GET /items?after=<position>` lists the ids changed after a position,
 * a page at a time, and `GET /items/:id` reads one item, so a page costs one list request and one per item.
 * Every request carries the fetch it belongs to (`x-fetch`). The first list request can be held: the API
 * answers it only when the test says so, and notes whether its client gave up waiting first.
 */
class WarehouseApi extends LoopbackServer {
  readonly items: Item[] = Array.from({ length: 6 }, (_, i) => ({
    id: `item-${i + 1}`,
    position: (i + 1) * 10,
    name: `Item ${i + 1}`,
  }));
  readonly requests: { fetch: string; path: string }[] = [];
  holdFirstList = false;
  held: { abandoned: boolean; release: () => void } | undefined;

  endCursor(): string {
    return String(this.items.at(-1)?.position);
  }

  protected async answer(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? "/", "http://127.0.0.1");
    this.requests.push({ fetch: String(request.headers["x-fetch"]), path: url.pathname });
    if (url.pathname === "/items" && this.holdFirstList && !this.held) {
      const held = { abandoned: false, release: () => {} };
      response.on("close", () => {
        if (!response.writableFinished) held.abandoned = true;
      });
      this.held = held;
      await new Promise<void>((resolve) => {
        held.release = resolve;
      });
    }
    const body = url.pathname === "/items" ? this.#list(url.searchParams.get("after")) : this.#item(url.pathname);
    if (!response.destroyed) response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(body));
  }

  #list(after: string | null) {
    const changed = this.items.filter((i) => i.position > Number(after ?? 0));
    const page = changed.slice(0, pageSize);
    return {
      ids: page.map((i) => i.id),
      nextCursor: String(page.at(-1)?.position ?? after),
      more: changed.length > pageSize,
    };
  }

  #item(path: string): Item | undefined {
    return this.items.find((i) => path === `/items/${i.id}`);
  }
}

/** The poll as poller `name` runs it: each fetch is numbered (`a1`, `a2`, …) and says so on every request. */
function warehousePoll(name: string): Poll<Item> {
  let fetches = 0;
  return definePoll<Item>({
    id: pollId,
    every: "50ms",
    maxBackoff: "100ms",
    eventType: "item.changed",
    itemId: (item) => item.id,
    async fetch({ cursor, connection }) {
      const headers = { "x-fetch": `${name}${++fetches}` };
      const warehouse = connection("warehouse");
      const list = await warehouse.get<{ ids: string[]; nextCursor: string; more: boolean }>("/items", {
        query: { after: cursor ?? undefined },
        headers,
      });
      const items: Item[] = [];
      for (const id of list.body.ids) items.push((await warehouse.get<Item>(`/items/${id}`, { headers })).body);
      return { items, nextCursor: list.body.nextCursor, hasMore: list.body.more };
    },
  });
}

describe.each(backends)("a poller whose lease lapsed does not act ($name)", (backend) => {
  const t = useTestStorage(backend);
  let api: WarehouseApi;
  let stops: (() => Promise<void>)[] = [];

  beforeEach(async () => {
    await t.storage.migrate();
    api = new WarehouseApi();
    await api.start();
    stops = [];
  });
  // Registered after useTestStorage's hooks, so it runs first: pollers stop before their storage closes.
  afterEach(async () => {
    api.held?.release();
    for (const stop of stops) await stop();
    await api.close();
  });

  /** A poller of the source as another worker would run it: its own owner id and connection client. */
  function startPoller(name: string): void {
    const connections = testConnections(t.storage, { warehouse: { baseUrl: api.origin } });
    const poller = new Poller(
      // The poller takes polls of any item type, as the engine hands them over.
      [warehousePoll(name) as unknown as Poll],
      {
        storage: t.storage,
        clock: systemClock,
        logger: silentLogger,
        toNewEvent: ({ source, type, dedupKey, payload }) => ({
          id: randomUUID(),
          source,
          type,
          dedupKey,
          payloadJson: JSON.stringify(payload),
          receivedAt: Date.now(),
          runs: [],
        }),
        onRunsStored: () => {},
        connection: (connectionName) => connections.client(connectionName),
      },
      { leaseMs, checkIntervalMs: 20 },
    );
    poller.start();
    stops.push(async () => {
      await poller.stop();
      await connections.stop();
    });
  }

  it("a fetch still waiting on the API when the lease runs out is aborted: the poller makes no further request and stores nothing, and the source shows why", async () => {
    api.holdFirstList = true;
    startPoller("a");
    await waitFor("poller a's first list request to be held", () => api.held);
    startPoller("b");

    const done = await waitFor("every item to be ingested", async () => {
      const state = await t.storage.getPollState(pollId);
      return state?.cursor === api.endCursor() ? state : null;
    });
    // The held answer comes at last: a poller still in that fetch would now read each item of the page.
    api.held?.release();
    await sleep(leaseMs);

    expect(api.requests.filter((r) => r.fetch === "a1")).toEqual([{ fetch: "a1", path: "/items" }]);
    expect(api.held?.abandoned).toBe(true);
    expect(done.itemsIngested).toBe(6);
    const events = await t.storage.listEvents({ source: pollId, limit: 100 });
    expect(events.map((e) => e.dedupKey).sort()).toEqual(api.items.map((i) => i.id));
    const state = await t.storage.getPollState(pollId);
    expect(state).toMatchObject({ cursor: api.endCursor(), itemsIngested: 6, consecutiveFailures: 0 });
    expect(state?.lastError).toContain(
      `its lease on poll source "${pollId}" may have lapsed (the page took longer than 750 ms`,
    );
  });
});
