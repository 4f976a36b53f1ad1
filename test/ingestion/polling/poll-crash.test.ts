import type { IncomingMessage, ServerResponse } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { spawnFixture, type WorkerProcess } from "../../fixtures/spawn-worker.ts";
import { backends, useTestStorage } from "../../support/backends.ts";
import { LoopbackServer } from "../../support/loopback-server.ts";
import { waitFor } from "../../support/wait.ts";

const pollId = "crash-items";
const itemCount = 2000;
const pageSize = 20;
/** Each worker is killed at its 20th page (of 100), at a different moment of that page. */
const pagesBeforeKill = 20;
const killMoments: KillMoment[] = [
  { moment: "while the server holds the request" },
  { moment: "as the page is answered", afterAnswerMs: 0 },
  { moment: "while the page is being committed", afterAnswerMs: 3 },
];

interface KillMoment {
  moment: string;
  /** Kill this long after the answer went out; undefined: as soon as the request arrives. */
  afterAnswerMs?: number;
}

/** `item-0001` … `item-2000` at positions 1 … 2000, served `?after=<position>&limit=N` with a little latency. */
class ItemServer extends LoopbackServer {
  /** Every request in arrival order: the cursor it asked from, and the pid of the worker that asked. */
  readonly requests: { after: string | null; pid: number }[] = [];
  #trap: { worker: WorkerProcess; page: number; afterAnswerMs: number | undefined } | undefined;
  get url(): string {
    return `${this.origin}/items`;
  }

  requestsOf(worker: WorkerProcess) {
    return this.requests.filter((r) => r.pid === worker.child.pid);
  }

  /** SIGKILLs `worker` from inside the server, at an exact point of its `page`-th fetch. */
  killAt(worker: WorkerProcess, page: number, { afterAnswerMs }: KillMoment): void {
    this.#trap = { worker, page, afterAnswerMs };
  }

  protected async answer(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const query = new URL(request.url ?? "/", "http://127.0.0.1").searchParams;
    const after = query.get("after") || null;
    this.requests.push({ after, pid: Number(request.headers["x-poller-pid"]) });
    const trap = this.#trap;
    const trapped = trap !== undefined && this.requestsOf(trap.worker).length === trap.page;
    if (trapped && trap.afterAnswerMs === undefined) trap.worker.child.kill("SIGKILL");
    await sleep(10); // latency, so that most of a worker's time is spent with a page in flight
    const from = after === null ? 1 : Number(after) + 1;
    const to = Math.min(itemCount, from + Number(query.get("limit")) - 1);
    const items = [];
    for (let position = from; position <= to; position++) items.push({ id: itemId(position), position });
    const body = { items, nextCursor: to >= from ? String(to) : after, hasMore: to < itemCount };
    response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(body));
    if (trapped && trap.afterAnswerMs !== undefined) {
      setTimeout(() => trap.worker.child.kill("SIGKILL"), trap.afterAnswerMs);
    }
  }
}

function itemId(position: number): string {
  return `item-${String(position).padStart(4, "0")}`;
}

describe.each(backends)("polling through crashes on '$name'", (backend) => {
  const t = useTestStorage(backend);
  let server: ItemServer;
  let workers: WorkerProcess[];

  beforeEach(async () => {
    await t.storage.migrate();
    server = new ItemServer();
    await server.start();
    workers = [];
  });
  // Registered after useTestStorage's hooks, so it runs first: no worker outlives the test or its database.
  afterEach(async () => {
    for (const worker of workers) await worker.kill9();
    await server.close();
  });

  async function startPollProcess(): Promise<WorkerProcess> {
    const worker = spawnFixture("poll-process.ts", {
      ...t.db.env,
      ITEMS_URL: server.url,
      POLL_ID: pollId,
      PAGE_SIZE: String(pageSize),
      // On PostgreSQL a new worker takes the source over once the dead one's lease runs out.
      LEASE_MS: "600",
    });
    workers.push(worker);
    await worker.waitForLine("ready");
    return worker;
  }

  async function committedCursor(): Promise<string | null> {
    return (await t.storage.getPollState(pollId))?.cursor ?? null;
  }

  /** A restarted worker starts from what was committed (or earlier, which dedup absorbs), never past it. */
  async function expectFirstFetchNotPast(worker: WorkerProcess, committed: string | null): Promise<void> {
    const first = await waitFor("the restarted worker's first fetch", () => server.requestsOf(worker)[0]);
    expect(Number(first.after ?? 0), `first cursor after the restart vs. committed ${committed}`).toBeLessThanOrEqual(
      Number(committed ?? 0),
    );
  }

  it(`a poll cursor survives kill -9 (${killMoments.length} times) with no item lost or doubled`, async () => {
    let committed: string | null = null;
    for (const [crash, kill] of killMoments.entries()) {
      const worker = await startPollProcess();
      if (crash > 0) await expectFirstFetchNotPast(worker, committed);
      server.killAt(worker, pagesBeforeKill, kill);
      const exit = await waitFor(`worker ${crash + 1} to be killed ${kill.moment}`, () => worker.exitInfo());
      expect(exit).toContain("SIGKILL");
      committed = await committedCursor();
      expect(Number(committed), "the crash landed before the end of the list").toBeLessThan(itemCount);
    }

    const last = await startPollProcess();
    await expectFirstFetchNotPast(last, committed);
    await waitFor(
      "the cursor to reach the last item",
      async () => (await committedCursor()) === String(itemCount),
      60_000,
    );
    await waitFor(
      `all ${itemCount} runs to succeed`,
      async () => (await t.storage.countRunsByStatus()).succeeded === itemCount,
      60_000,
    );

    const events = await t.storage.listEvents({ source: pollId, limit: itemCount * 2 });
    const keys = events.map((e) => e.dedupKey ?? "");
    const stored = new Set(keys);
    const everyItem = Array.from({ length: itemCount }, (_, i) => itemId(i + 1));
    const missing = everyItem.filter((id) => !stored.has(id));
    const doubled = keys.filter((key, i) => keys.indexOf(key) !== i);
    expect({ missing, doubled }).toEqual({ missing: [], doubled: [] });
    expect(events).toHaveLength(itemCount);
    expect((await t.storage.getPollState(pollId))?.itemsIngested).toBe(itemCount);

    const runs = await t.storage.listRuns({ limit: itemCount * 2 });
    expect(runs).toHaveLength(itemCount);
    expect(new Set(runs.map((r) => r.eventId))).toEqual(new Set(events.map((e) => e.id)));
  });
});
