/**
 * The counting sink of `bench/e2e.ts`: the API the forwarded webhooks are POSTed to, in its own process. It does as
 * little as it can per request (headers only; the body is read and dropped) so that it costs the machine little
 * beside the server under test.
 *
 *   node --import tsx bench/e2e-sink.ts
 *
 * Prints `{"url":"http://127.0.0.1:<port>"}` on stdout once it listens, and on SIGTERM closes and exits 0.
 *
 * Every POST outside /_sink/ is one delivery: it is answered 200 with a small JSON order, and counted under the
 * event named by its `x-bench-event` header; its `idempotency-key` header is remembered, so a key seen twice (a
 * delivery repeated) is caught. An event is complete once it has had 3 deliveries; the time it completed is kept.
 *
 *   GET  /_sink/stats     SinkStats: counters so far
 *   PUT  /_sink/expected  a JSON array of event ids that were acknowledged: /_sink/stats then reports how many of
 *                         them are not complete yet, and when the last of them completed
 *   POST /_sink/check     a JSON array of event ids: SinkCheck, how each one's deliveries compare with 3
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";

/** Each forwarded webhook makes this many deliveries (its integration's 3 steps). */
export const deliveriesPerEvent = 3;
/** How many ids a check lists for each kind of mismatch, beside its count. */
const sampleSize = 10;

export interface SinkStats {
  /** Deliveries (POSTs) received. */
  posts: number;
  /** Distinct events delivered for. */
  events: number;
  /** Events with at least 3 deliveries. */
  complete: number;
  /** Events with 1 or 2 deliveries: forwarding in progress (or cut short). */
  partial: number;
  /** Deliveries whose idempotency key had been seen before: each one is a repeated effect. */
  repeatedKeys: number;
  withoutKey: number;
  withoutEvent: number;
  /** When the latest event completed (ms since the epoch, fractional); null before the first. */
  lastCompletedAt: number | null;
  /** Events of the expected list (PUT /_sink/expected), and how many of them are not complete yet. */
  expected: number;
  expectedPending: number;
  /** When the last expected event completed; null while some are pending or none were expected. */
  expectedCompletedAt: number | null;
}

export interface SinkCheck {
  checked: number;
  /** Checked events with exactly 3 deliveries. */
  exactlyThree: number;
  /** Checked events with no delivery, 1 or 2, or more than 3; each with a few of their ids. */
  missing: { count: number; sample: string[] };
  partial: { count: number; sample: string[] };
  over: { count: number; sample: string[] };
  /** Events the sink had deliveries for that are not in the list. */
  notListed: { count: number; sample: string[] };
  /** Deliveries that repeated an idempotency key (across all events), with a few of the keys. */
  repeatedKeys: { count: number; sample: string[] };
}

export interface Sink {
  server: Server;
  stats(): SinkStats;
}

/** Milliseconds since the epoch with sub-millisecond precision, comparable across processes of one machine. */
export function epochMs(): number {
  return performance.timeOrigin + performance.now();
}

export function createSink(): Sink {
  const deliveries = new Map<string, number>();
  const completedAt = new Map<string, number>();
  const keys = new Set<string>();
  const repeatedKeySample: string[] = [];
  let expected = new Set<string>();
  let expectedPending = 0;
  let expectedCompletedAt: number | null = null;
  let orders = 0;
  const counters = { posts: 0, complete: 0, repeatedKeys: 0, withoutKey: 0, withoutEvent: 0 };
  let lastCompletedAt: number | null = null;

  function deliver(request: IncomingMessage): void {
    counters.posts++;
    const key = request.headers["idempotency-key"];
    if (typeof key !== "string") counters.withoutKey++;
    else if (keys.has(key)) {
      counters.repeatedKeys++;
      if (repeatedKeySample.length < sampleSize) repeatedKeySample.push(key);
    } else keys.add(key);
    const event = request.headers["x-bench-event"];
    if (typeof event !== "string") {
      counters.withoutEvent++;
      return;
    }
    const count = (deliveries.get(event) ?? 0) + 1;
    deliveries.set(event, count);
    if (count !== deliveriesPerEvent) return;
    const now = epochMs();
    counters.complete++;
    completedAt.set(event, now);
    lastCompletedAt = now;
    if (expected.has(event) && --expectedPending === 0) expectedCompletedAt = now;
  }

  function stats(): SinkStats {
    return {
      ...counters,
      events: deliveries.size,
      partial: deliveries.size - counters.complete,
      lastCompletedAt,
      expected: expected.size,
      expectedPending,
      expectedCompletedAt: expectedPending === 0 ? expectedCompletedAt : null,
    };
  }

  function expect(ids: string[]): SinkStats {
    expected = new Set(ids);
    expectedPending = 0;
    expectedCompletedAt = null;
    for (const id of expected) {
      const done = completedAt.get(id);
      if (done === undefined) expectedPending++;
      else if (expectedCompletedAt === null || done > expectedCompletedAt) expectedCompletedAt = done;
    }
    return stats();
  }

  function check(ids: string[]): SinkCheck {
    const listed = new Set(ids);
    const mismatches = () => ({ count: 0, sample: [] as string[] });
    const result: SinkCheck = {
      checked: listed.size,
      exactlyThree: 0,
      missing: mismatches(),
      partial: mismatches(),
      over: mismatches(),
      notListed: mismatches(),
      repeatedKeys: { count: counters.repeatedKeys, sample: [...repeatedKeySample] },
    };
    const note = (kind: { count: number; sample: string[] }, id: string) => {
      kind.count++;
      if (kind.sample.length < sampleSize) kind.sample.push(id);
    };
    for (const id of listed) {
      const count = deliveries.get(id) ?? 0;
      if (count === deliveriesPerEvent) result.exactlyThree++;
      else if (count === 0) note(result.missing, id);
      else if (count < deliveriesPerEvent) note(result.partial, id);
      else note(result.over, id);
    }
    for (const id of deliveries.keys()) if (!listed.has(id)) note(result.notListed, id);
    return result;
  }

  const server = createServer((request, response) => {
    if (request.url?.startsWith("/_sink/")) {
      void control(request, response, { stats, expect, check });
      return;
    }
    if (request.method !== "POST") {
      answer(response, 405, { error: `the sink takes POSTs (and /_sink/*), not ${request.method}` });
      return;
    }
    deliver(request);
    request.resume();
    request.on("end", () => answer(response, 200, { id: `ord_${++orders}`, status: "accepted" }));
  });
  // Longer than a client's idle time between phases, so a keep-alive socket is not closed under a request.
  server.keepAliveTimeout = 60_000;
  return { server, stats };
}

async function control(
  request: IncomingMessage,
  response: ServerResponse,
  sink: { stats(): SinkStats; expect(ids: string[]): SinkStats; check(ids: string[]): SinkCheck },
): Promise<void> {
  const route = `${request.method} ${request.url}`;
  if (route === "GET /_sink/stats") return answer(response, 200, sink.stats());
  if (route !== "PUT /_sink/expected" && route !== "POST /_sink/check") {
    return answer(response, 404, {
      error: `no route ${route}: GET /_sink/stats, PUT /_sink/expected, POST /_sink/check`,
    });
  }
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  let ids: unknown;
  try {
    ids = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    ids = undefined;
  }
  if (!Array.isArray(ids) || !ids.every((id) => typeof id === "string")) {
    return answer(response, 400, { error: `${route} takes a JSON array of event ids (strings)` });
  }
  answer(response, 200, route === "PUT /_sink/expected" ? sink.expect(ids) : sink.check(ids));
}

function answer(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  response.end(text);
}

async function main(): Promise<void> {
  const { server } = createSink();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })}\n`);
  await new Promise<void>((resolve) => {
    process.once("SIGTERM", () => resolve());
    process.once("SIGINT", () => resolve());
  });
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
