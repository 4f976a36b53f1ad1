import type { AddressInfo } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createSink, type Sink, type SinkCheck, type SinkStats } from "../../bench/e2e-sink.ts";

// bench:e2e's verdicts (nothing lost, nothing doubled, the drain's end) are only as good as the sink's counting.
describe("the counting sink of bench:e2e", () => {
  let sink: Sink;
  let url: string;

  beforeEach(async () => {
    sink = createSink();
    await new Promise<void>((resolve) => sink.server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(sink.server.address() as AddressInfo).port}`;
  });

  afterEach(async () => {
    sink.server.closeAllConnections();
    await new Promise<void>((resolve) => sink.server.close(() => resolve()));
  });

  async function deliver(event: string | undefined, key: string | undefined): Promise<Response> {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (event !== undefined) headers["x-bench-event"] = event;
    if (key !== undefined) headers["idempotency-key"] = key;
    return fetch(`${url}/orders`, { method: "POST", headers, body: JSON.stringify({ step: "create-order", event }) });
  }

  async function deliverAll(event: string, steps = 3): Promise<void> {
    for (let step = 1; step <= steps; step++) await deliver(event, `${event}:${step}`);
  }

  async function control<T>(method: string, path: string, body?: unknown): Promise<{ status: number; json: T }> {
    const response = await fetch(`${url}${path}`, {
      method,
      ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
    });
    return { status: response.status, json: (await response.json()) as T };
  }

  it("answers each delivery with an order, and counts an event complete at its third", async () => {
    const first = await deliver("evt_1", "evt_1:1");
    expect(first.status).toBe(200);
    expect(await first.json()).toEqual({ id: "ord_1", status: "accepted" });
    await deliver("evt_1", "evt_1:2");
    expect(sink.stats()).toMatchObject({ posts: 2, events: 1, complete: 0, partial: 1, lastCompletedAt: null });

    await deliver("evt_1", "evt_1:3");
    const stats = sink.stats();
    expect(stats).toMatchObject({ posts: 3, events: 1, complete: 1, partial: 0, repeatedKeys: 0 });
    expect(stats.lastCompletedAt).toBeGreaterThan(0);
  });

  it("catches an idempotency key delivered twice, and deliveries without a key or an event", async () => {
    await deliverAll("evt_1");
    await deliver("evt_1", "evt_1:2");
    await deliver("evt_2", undefined);
    await deliver(undefined, "orphan:1");

    const { json: stats } = await control<SinkStats>("GET", "/_sink/stats");
    expect(stats).toMatchObject({ posts: 6, repeatedKeys: 1, withoutKey: 1, withoutEvent: 1 });
    const { json: check } = await control<SinkCheck>("POST", "/_sink/check", ["evt_1"]);
    expect(check.repeatedKeys).toEqual({ count: 1, sample: ["evt_1:2"] });
    expect(check.over).toEqual({ count: 1, sample: ["evt_1"] });
  });

  it("reports expected events pending until the last completes, and when that was", async () => {
    await deliverAll("evt_done");
    await deliverAll("evt_late", 2);

    const { json: expecting } = await control<SinkStats>("PUT", "/_sink/expected", [
      "evt_done",
      "evt_late",
      "evt_none",
    ]);
    expect(expecting).toMatchObject({ expected: 3, expectedPending: 2, expectedCompletedAt: null });

    await deliver("evt_late", "evt_late:3");
    expect(sink.stats()).toMatchObject({ expectedPending: 1, expectedCompletedAt: null });
    await deliverAll("evt_none");
    const stats = sink.stats();
    expect(stats.expectedPending).toBe(0);
    expect(stats.expectedCompletedAt).toBe(stats.lastCompletedAt);
    expect(stats.expectedCompletedAt).not.toBeNull();
  });

  it("sorts the events of a check by their deliveries: exactly 3, none, 1–2, more than 3, and those not listed", async () => {
    await deliverAll("evt_ok");
    await deliverAll("evt_half", 1);
    await deliverAll("evt_over", 4);
    await deliverAll("evt_unlisted");

    const { json: check } = await control<SinkCheck>("POST", "/_sink/check", [
      "evt_ok",
      "evt_half",
      "evt_over",
      "evt_lost",
      "evt_ok",
    ]);
    expect(check).toEqual({
      checked: 4,
      exactlyThree: 1,
      missing: { count: 1, sample: ["evt_lost"] },
      partial: { count: 1, sample: ["evt_half"] },
      over: { count: 1, sample: ["evt_over"] },
      notListed: { count: 1, sample: ["evt_unlisted"] },
      repeatedKeys: { count: 0, sample: [] },
    });
  });

  it("refuses a control request that is not a list of event ids, saying what it takes", async () => {
    const notJson = await control<{ error: string }>("POST", "/_sink/check", "evt_1,evt_2");
    expect(notJson.status).toBe(400);
    expect(notJson.json.error).toBe("POST /_sink/check takes a JSON array of event ids (strings)");
    const numbers = await control<{ error: string }>("PUT", "/_sink/expected", [1, 2]);
    expect(numbers.status).toBe(400);
    const unknown = await control<{ error: string }>("GET", "/_sink/nothing");
    expect(unknown.status).toBe(404);
    expect(unknown.json.error).toContain("GET /_sink/stats, PUT /_sink/expected, POST /_sink/check");
  });
});
