import type { IncomingMessage, ServerResponse } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Engine } from "../../../src/engine/engine.ts";
import { defineIntegration } from "../../../src/sdk/define-integration.ts";
import { definePoll, type Poll, type PollDefinition, type PollPage } from "../../../src/sdk/define-poll.ts";
import type { PollState, Storage } from "../../../src/storage/contract.ts";
import { type Backend, backends, postgresBackend, useTestStorage } from "../../support/backends.ts";
import { testEngine } from "../../support/engine.ts";
import { LoopbackServer } from "../../support/loopback-server.ts";
import { waitFor } from "../../support/wait.ts";

const pollId = "crm-contacts";
const eventType = "contact.changed";
const pageSize = 5;

/** A record of the item server; `position` orders the list, like an `updated_at` that every change moves forward. */
interface Item {
  id: string;
  version: number;
  position: number;
}

/**
 * A paged list API on a real local port: `GET /items?after=<cursor>&limit=N` answers the items after the
 * cursor (a position), oldest first, as `{ items, nextCursor, hasMore }`. Its knobs play the provider quirks.
 */
class ItemServer extends LoopbackServer {
  readonly items: Item[] = [];
  /** Each page also re-serves this many items before the cursor (an inclusive "updated since"). */
  overlap = 0;
  /** Per-request latency, so that two concurrent fetches would overlap on the server. */
  delayMs = 0;
  /** Answer every request with this status instead of a page. */
  failWith: number | null = null;
  /** Answer every request with this JSON instead of a page. */
  rawBody: unknown;
  /** The cursor of every request, in arrival order (null: from the start). */
  readonly requests: (string | null)[] = [];
  maxInFlight = 0;
  #inFlight = 0;
  get url(): string {
    return `${this.origin}/items`;
  }

  /** Adds items at the end of the list, or at `position`: behind a cursor, like a record an API lists late. */
  add(ids: string[], position?: number): void {
    for (const id of ids) this.items.push({ id, version: 1, position: position ?? this.#lastPosition() + 10 });
  }

  /** A new version of an item moves it to the end of the list. */
  change(id: string): void {
    const item = this.items.find((i) => i.id === id);
    if (!item) throw new Error(`no item ${id}`);
    item.version++;
    item.position = this.#lastPosition() + 10;
  }

  /** The cursor after the last item. */
  endCursor(): string {
    return String(this.#lastPosition());
  }

  requestsAt(cursor: string): number {
    return this.requests.filter((after) => after === cursor).length;
  }

  #lastPosition(): number {
    return Math.max(0, ...this.items.map((i) => i.position));
  }

  protected async answer(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const query = new URL(request.url ?? "/", "http://127.0.0.1").searchParams;
    const after = query.get("after") || null;
    this.requests.push(after);
    this.#inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.#inFlight);
    try {
      if (this.delayMs > 0) await sleep(this.delayMs);
      if (this.failWith !== null) {
        response.writeHead(this.failWith).end();
        return;
      }
      const body = this.rawBody !== undefined ? this.rawBody : this.#page(after, Number(query.get("limit")));
      response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(body));
    } finally {
      this.#inFlight--;
    }
  }

  #page(after: string | null, limit: number): PollPage<Item> {
    const sorted = this.items.toSorted((a, b) => a.position - b.position);
    const firstNew = after === null ? 0 : sorted.findIndex((i) => i.position > Number(after));
    const start = Math.max(0, (firstNew === -1 ? sorted.length : firstNew) - this.overlap);
    const items = sorted.slice(start, start + limit);
    const last = items.at(-1);
    return { items, nextCursor: last ? String(last.position) : after, hasMore: start + limit < sorted.length };
  }
}

function contactsPoll(server: ItemServer, overrides: Partial<PollDefinition<Item>> = {}): Poll<Item> {
  return definePoll<Item>({
    id: pollId,
    every: "50ms",
    maxBackoff: "200ms",
    eventType,
    itemId: (item) => `${item.id}@v${item.version}`,
    async fetch({ cursor, signal }) {
      const response = await fetch(`${server.url}?after=${cursor ?? ""}&limit=${pageSize}`, { signal });
      if (!response.ok) throw new Error(`item server answered ${response.status}`);
      return (await response.json()) as PollPage<Item>;
    },
    ...overrides,
  });
}

const syncContact = defineIntegration<Item>({
  id: "sync-contact",
  trigger: { event: eventType, source: pollId },
  run: ({ event }) => event.payload.id,
});

/** Same event type from another source: a poll's events must not start it. */
const otherCrm = defineIntegration<Item>({
  id: "other-crm",
  trigger: { event: eventType, source: "other-crm" },
  run: () => {},
});

function ids(prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}-${i + 1}`);
}

/** The dedup keys of these items at version 1, sorted like dedupKeysOfPoll. */
function firstVersionKeys(itemIds: string[]): string[] {
  return itemIds.map((id) => `${id}@v1`).sort();
}

async function eventsOfPoll(storage: Storage) {
  return storage.listEvents({ source: pollId, limit: 1000 });
}

async function dedupKeysOfPoll(storage: Storage): Promise<string[]> {
  return (await eventsOfPoll(storage)).map((e) => e.dedupKey ?? "").sort();
}

/** Each event of the poll started exactly one run of sync-contact, and nothing else started. */
async function expectOneRunPerEvent(storage: Storage): Promise<void> {
  const events = await eventsOfPoll(storage);
  const runs = await storage.listRuns({ limit: 1000 });
  expect(runs.filter((r) => r.integrationId !== syncContact.id)).toEqual([]);
  expect(runs.map((r) => r.eventId).sort()).toEqual(events.map((e) => e.id).sort());
}

async function waitForPollState(engine: Engine, what: string, check: (state: PollState) => boolean) {
  return waitFor(`poll ${pollId}: ${what}`, async () => {
    const state = await engine.pollState(pollId);
    return state && check(state) ? state : null;
  });
}

function usePolling(backend: Backend) {
  const t = useTestStorage(backend);
  const running: { engines: Engine[]; storages: Storage[]; server?: ItemServer } = { engines: [], storages: [] };

  beforeEach(() => {
    running.engines = [];
    running.storages = [];
    running.server = undefined;
  });
  // Registered after useTestStorage's hooks, so it runs first: engines stop before their storage closes.
  afterEach(async () => {
    for (const engine of running.engines) await engine.stop({ deadlineMs: 1000 });
    for (const storage of running.storages) await storage.close();
    await running.server?.close();
  });

  return {
    t,
    async startServer(): Promise<ItemServer> {
      running.server = new ItemServer();
      await running.server.start();
      return running.server;
    },
    async startEngine(poll: Poll<Item>, storage: Storage = t.storage): Promise<Engine> {
      const engine = testEngine({
        storage,
        integrations: [syncContact, otherCrm],
        polls: [poll],
        poller: { checkIntervalMs: 20 },
      });
      running.engines.push(engine);
      await engine.start();
      return engine;
    },
    /** Another worker on the same database. */
    openStorage(): Storage {
      const storage = t.db.open();
      running.storages.push(storage);
      return storage;
    },
  };
}

describe.each(backends)("polling an HTTP list API on '$name'", (backend) => {
  const { t, startServer, startEngine } = usePolling(backend);

  it("every item becomes one event and one run; pages with hasMore are fetched back to back; the cursor ends at the last item", async () => {
    const server = await startServer();
    server.add(ids("contact", 23));
    // Polled once an hour: only hasMore can bring pages 2-5 within the test.
    const engine = await startEngine(contactsPoll(server, { every: "1h" }));

    const state = await waitForPollState(engine, "cursor at the last item", (s) => s.cursor === server.endCursor());
    expect(server.requests).toEqual([null, "50", "100", "150", "200"]);
    expect(state.itemsIngested).toBe(23);
    expect(state.consecutiveFailures).toBe(0);
    expect(state.lastSuccessAt).not.toBeNull();

    const events = await eventsOfPoll(t.storage);
    expect(events).toHaveLength(23);
    for (const event of events) {
      const item = JSON.parse(event.payloadJson) as Item;
      expect(event).toMatchObject({ source: pollId, type: eventType, dedupKey: `${item.id}@v1`, status: "accepted" });
    }
    expect(events.map((e) => (JSON.parse(e.payloadJson) as Item).id).sort()).toEqual(ids("contact", 23).sort());

    await waitFor("every run to succeed", async () => (await t.storage.countRunsByStatus()).succeeded === 23);
    await expectOneRunPerEvent(t.storage);
  });

  it("an item served again (overlapping pages, every later poll) makes no second event; a new version of it makes a new one", async () => {
    const server = await startServer();
    server.overlap = 2;
    server.add(ids("contact", 8));
    const engine = await startEngine(contactsPoll(server));

    const endOfList = server.endCursor();
    await waitForPollState(engine, "cursor at the last item", (s) => s.cursor === endOfList);
    // A request at the final cursor starts only after the previous page committed: two re-served pages are stored.
    await waitFor("three polls at the end of the list", () => server.requestsAt(endOfList) >= 3);
    expect(await dedupKeysOfPoll(t.storage)).toEqual(firstVersionKeys(ids("contact", 8)));
    expect((await engine.pollState(pollId))?.itemsIngested).toBe(8);

    server.change("contact-3");
    const changedEnd = server.endCursor();
    await waitForPollState(engine, "cursor at the changed item", (s) => s.cursor === changedEnd);
    await waitFor("three polls after the change", () => server.requestsAt(changedEnd) >= 3);
    const keys = await dedupKeysOfPoll(t.storage);
    expect(keys).toHaveLength(9);
    expect(keys).toContain("contact-3@v1");
    expect(keys).toContain("contact-3@v2");
    await expectOneRunPerEvent(t.storage);
  });

  it("a failing poll keeps its cursor and shows its last error; once the server heals, polling resumes and the failure count resets", async () => {
    const server = await startServer();
    server.add(ids("contact", 3));
    const engine = await startEngine(contactsPoll(server));
    const healthy = await waitForPollState(engine, "first items stored", (s) => s.cursor === server.endCursor());

    server.failWith = 500;
    server.add(["contact-4", "contact-5"]);
    const failed = await waitForPollState(engine, "a failure", (s) => s.consecutiveFailures >= 1);
    expect(failed.cursor).toBe(healthy.cursor);
    expect(failed.lastError).toContain("item server answered 500");
    expect(failed.lastSuccessAt).toBeGreaterThanOrEqual(healthy.lastSuccessAt ?? Number.NaN);
    expect(failed.lastErrorAt).toBeGreaterThanOrEqual(failed.lastSuccessAt ?? Number.NaN);
    const failedAgain = await waitForPollState(engine, "a second failure", (s) => s.consecutiveFailures >= 2);
    expect(failedAgain.cursor).toBe(healthy.cursor);
    expect(failedAgain.lastSuccessAt).toBe(failed.lastSuccessAt);
    expect(await eventsOfPoll(t.storage)).toHaveLength(3);

    server.failWith = null;
    const healed = await waitForPollState(engine, "the new items", (s) => s.cursor === server.endCursor());
    expect(healed.consecutiveFailures).toBe(0);
    expect(healed.lastSuccessAt).toBeGreaterThan(failedAgain.lastErrorAt ?? Number.NaN);
    expect(await dedupKeysOfPoll(t.storage)).toEqual(firstVersionKeys(ids("contact", 5)));
    await expectOneRunPerEvent(t.storage);
  });

  it.each([
    {
      page: "without an items array",
      body: { data: [{ id: "contact-1", version: 1, position: 10 }], nextCursor: "10" },
      message: `poll "${pollId}": fetch returned no items array`,
    },
    {
      page: "with a numeric nextCursor",
      body: { items: [{ id: "contact-1", version: 1, position: 10 }], nextCursor: 10 },
      message: `poll "${pollId}": fetch returned nextCursor 10; it must be a string or null`,
    },
    {
      page: "whose itemId is not a string (the API's numeric position)",
      itemId: (item: Item) => item.position as unknown as string,
      message: `poll "${pollId}": fetch: itemId gave 10 for an item; it must be a string of 1-500 characters`,
    },
  ])(
    "a page $page is a failed poll with a clear message, and nothing of it is stored",
    async ({ body, itemId, message }) => {
      const server = await startServer();
      server.add(ids("contact", 2));
      server.rawBody = body;
      const engine = await startEngine(contactsPoll(server, itemId ? { itemId } : {}));

      const state = await waitForPollState(engine, "a failure", (s) => s.consecutiveFailures >= 1);
      expect(state.lastError).toBe(message);
      expect(state.cursor).toBeNull();
      expect(state.itemsIngested).toBe(0);
      expect(await eventsOfPoll(t.storage)).toEqual([]);
      expect(await t.storage.listRuns()).toEqual([]);
    },
  );

  it("an item whose event cannot be built (its eventType throws) is a failed poll, and the source keeps being retried", async () => {
    const server = await startServer();
    server.add(ids("contact", 2));
    let broken = true;
    const engine = await startEngine(
      contactsPoll(server, {
        eventType: () => {
          if (broken) throw new Error("no type mapping for this record");
          return eventType;
        },
      }),
    );
    const first = await waitForPollState(engine, "a failure", (s) => s.consecutiveFailures >= 1);
    expect(first.lastError).toBe("no type mapping for this record");
    // Released, not stuck until the lease expires: the next polls fail again and the streak grows.
    await waitForPollState(engine, "a second failure", (s) => s.consecutiveFailures >= 2);
    expect(await eventsOfPoll(t.storage)).toEqual([]);

    broken = false;
    const healed = await waitForPollState(engine, "the items", (s) => s.itemsIngested === 2);
    expect(healed.consecutiveFailures).toBe(0);
  });

  it("a backfill re-fetches from an older cursor: items already seen create nothing, items listed late are ingested", async () => {
    const server = await startServer();
    server.add(ids("contact", 10));
    const engine = await startEngine(contactsPoll(server));
    const endOfList = server.endCursor();
    await waitForPollState(engine, "cursor at the last item", (s) => s.cursor === endOfList);

    server.add(["late-1"], 45);
    server.add(["late-2"], 85);
    const requestsBefore = server.requestsAt(endOfList);
    await waitFor("two more polls at the end of the list", () => server.requestsAt(endOfList) >= requestsBefore + 2);
    expect(await eventsOfPoll(t.storage)).toHaveLength(10); // behind the cursor: regular polls never see them

    const backfillStart = server.requests.length;
    await engine.backfill(pollId, "40");
    await waitFor("the late items", async () => (await eventsOfPoll(t.storage)).length === 12);
    const state = await waitForPollState(engine, "cursor back at the end", (s) => s.cursor === endOfList);

    expect(server.requests.slice(backfillStart)).toContain("40");
    expect(state.itemsIngested).toBe(12);
    expect(await dedupKeysOfPoll(t.storage)).toEqual(firstVersionKeys([...ids("contact", 10), "late-1", "late-2"]));
    await expectOneRunPerEvent(t.storage);
  });
});

describe("two engines polling one source on one PostgreSQL database", () => {
  const { t, startServer, startEngine, openStorage } = usePolling(postgresBackend);

  it("the source is fetched by one engine at a time, and every item is ingested exactly once", async () => {
    const server = await startServer();
    server.delayMs = 5; // long enough for a second fetch to overlap if the lease let one through
    server.add(ids("contact", 60));
    const first = await startEngine(contactsPoll(server));
    const second = await startEngine(contactsPoll(server), openStorage());

    await waitForPollState(first, "cursor at the last item", (s) => s.cursor === server.endCursor());
    server.add(ids("new-contact", 20));
    const endOfList = server.endCursor();
    await waitForPollState(second, "cursor at the new last item", (s) => s.cursor === endOfList);
    await waitFor("five polls at the end of the list", () => server.requestsAt(endOfList) >= 5);

    expect(server.maxInFlight).toBe(1);
    expect(await dedupKeysOfPoll(t.storage)).toEqual(
      firstVersionKeys([...ids("contact", 60), ...ids("new-contact", 20)]),
    );
    await waitFor("every run to succeed", async () => (await t.storage.countRunsByStatus()).succeeded === 80);
    await expectOneRunPerEvent(t.storage);
  });
});
