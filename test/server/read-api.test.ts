import { afterEach, describe, expect, it } from "vitest";
import type { Engine } from "../../src/engine/engine.ts";
import { defineIntegration } from "../../src/sdk/define-integration.ts";
import { NonRetryableError } from "../../src/sdk/errors.ts";
import { backends, useTestStorage } from "../support/backends.ts";
import { ManualClock } from "../support/clock.ts";
import { testEngine, waitForRunStatus } from "../support/engine.ts";
import { allProviderSources, type RunningServer, startTestServer } from "../support/server.ts";
import { stripeRequest } from "../support/signed-webhooks.ts";

const token = "read-api-token-1";

const onOrders = defineIntegration<{ n: number }>({
  id: "on-orders",
  trigger: { event: "order.created" },
  run: ({ step }) => step.run("noop", () => "ok"),
});
const onContacts = defineIntegration({
  id: "on-contacts",
  trigger: { event: "contact.created" },
  run: ({ step }) => step.run("noop", () => "ok"),
});
/** Fails for good when the payload asks it to. */
const judgesOrders = defineIntegration<{ n: number; fail?: boolean }>({
  id: "judges-orders",
  trigger: { event: "order.judged" },
  run: ({ event, step }) =>
    step.run("judge", () => {
      if (event.payload.fail) throw new NonRetryableError(`order ${event.payload.n} is refused for good`);
      return "fine";
    }),
});
const nightly = defineIntegration({
  id: "nightly-sync",
  trigger: { cron: "0 3 * * *" },
  run: ({ step }) => step.run("noop", () => "ok"),
});

// biome-ignore lint/suspicious/noExplicitAny: tests look into whatever JSON came back
type Answer = { status: number; json: any };

describe.each(backends)("the read API ($name)", (backend) => {
  const t = useTestStorage(backend);
  let engine: Engine | undefined;
  let http: RunningServer | undefined;

  afterEach(async () => {
    await http?.server.close();
    await engine?.stop({ deadlineMs: 1000 });
    engine = undefined;
    http = undefined;
  });

  /** An engine that only accepts (no worker): every run stays queued, created at the clock's time. */
  async function acceptingOnly(clock: ManualClock) {
    engine = testEngine({ storage: t.storage, integrations: [onOrders, onContacts], worker: false, clock });
    await engine.start();
    http = await startTestServer(engine, { apiTokens: [token], sources: {}, now: () => clock.now() });
    return engine;
  }

  async function get(path: string, auth = true): Promise<Answer> {
    const response = await fetch(`${http?.url}${path}`, {
      headers: auth ? { authorization: `Bearer ${token}` } : {},
    });
    return { status: response.status, json: await response.json() };
  }

  async function order(n: number) {
    const result = await (engine as Engine).send({ type: "order.created", payload: { n } });
    return result.runIds[0] as string;
  }

  it("pages runs newest first with a cursor: no gap and no repeat while new runs arrive", async () => {
    const clock = new ManualClock();
    await acceptingOnly(clock);
    const created: string[] = [];
    for (let n = 0; n < 8; n++) {
      // Two runs in each millisecond: the cursor must tell apart runs created at the same instant.
      if (n % 2 === 0) clock.advance(1000);
      created.push(await order(n));
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: Answer = await get(`/api/runs?limit=3${cursor ? `&cursor=${cursor}` : ""}`);
      expect(page.status).toBe(200);
      seen.push(...page.json.runs.map((r: { id: string }) => r.id));
      cursor = page.json.nextCursor;
      pages += 1;
      // New runs keep arriving between pages: they are newer than the first page, so no later page shows them.
      clock.advance(1000);
      await order(100 + pages);
    } while (cursor !== null);
    expect(pages).toBe(3);
    expect(seen).toEqual([...created].reverse());
  });

  it("filters runs by integration and by creation time, and events by status, source and type", async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 1, 12, 0, 0));
    await acceptingOnly(clock);
    const early = await order(1);
    clock.set(Date.UTC(2026, 0, 1, 13, 0, 0));
    const contact = (await (engine as Engine).send({ source: "crm", type: "contact.created", payload: {}, id: "c1" }))
      .runIds[0];
    const late = await order(2);
    const quarantined = await (engine as Engine).quarantine({
      source: "crm",
      type: "contact.created",
      id: "c2",
      payload: { contentType: "application/json", encoding: "utf8", body: "{not json" },
      reason: "the body is not valid JSON",
    });

    const ids = (answer: Answer) => answer.json.runs.map((r: { id: string }) => r.id);
    expect(ids(await get("/api/runs?integration=on-orders"))).toEqual([late, early]);
    expect(ids(await get("/api/runs?integration=on-contacts"))).toEqual([contact]);
    expect(ids(await get("/api/runs?since=2026-01-01T12:30:00Z"))).toEqual([late, contact]);
    expect(ids(await get("/api/runs?until=2026-01-01T12:30:00%2B00:00"))).toEqual([early]);
    expect(ids(await get("/api/runs?status=queued&integration=on-orders&since=30m"))).toEqual([late]);
    expect(ids(await get("/api/runs?status=succeeded"))).toEqual([]);

    const events = (answer: Answer) => answer.json.events.map((e: { id: string }) => e.id);
    const quarantinedList = await get("/api/events?status=quarantined");
    expect(events(quarantinedList)).toEqual([quarantined.eventId]);
    expect(quarantinedList.json.events[0]).toMatchObject({ reason: "the body is not valid JSON", source: "crm" });
    expect(events(await get("/api/events?source=crm&type=contact.created&status=accepted"))).toHaveLength(1);
    expect(events(await get("/api/events?source=api"))).toHaveLength(2);
    expect(events(await get("/api/events?since=2026-01-01T12:30:00Z&source=api"))).toHaveLength(1);

    const one = await get(`/api/events/${quarantined.eventId}`);
    expect(one.status).toBe(200);
    expect(one.json.event).toMatchObject({
      status: "quarantined",
      reason: "the body is not valid JSON",
      payload: { contentType: "application/json", encoding: "utf8", body: "{not json" },
    });
    expect(one.json.runs).toEqual([]);
    const accepted = await get(`/api/events/${(await t.storage.getRun(contact as string))?.eventId}`);
    expect(accepted.json.runs.map((r: { id: string }) => r.id)).toEqual([contact]);
  });

  it("answers 400 with what is wrong for a bad query, 404 for what is not stored, 401 without a token", async () => {
    await acceptingOnly(new ManualClock());
    const cases: [string, string, RegExp][] = [
      ["/api/runs?status=finished", "invalid_status", /unknown run status "finished"; one of: queued, /],
      ["/api/runs?since=yesterday", "invalid_time", /since must be an ISO 8601 date-time/],
      ["/api/runs?until=2026-01-01T10:00:00", "invalid_time", /with a time zone/],
      ["/api/runs?since=2h&until=3h", "invalid_time", /until must be later than since/],
      ["/api/runs?cursor=not-a-cursor", "invalid_cursor", /pass the "nextCursor" of the previous page/],
      ["/api/runs?limit=0", "invalid_limit", /from 1 to 500/],
      ["/api/runs?limit=501", "invalid_limit", /from 1 to 500/],
      ["/api/runs?staus=queued", "unknown_parameter", /unknown query parameter "staus"/],
      ["/api/runs?status=queued&status=dead", "repeated_parameter", /give status once/],
      ["/api/events?status=done", "invalid_status", /unknown event status "done"/],
      ["/api/events?type=order.created", "invalid_filter", /pass source too/],
    ];
    for (const [path, error, message] of cases) {
      const answer = await get(path);
      expect({ path, status: answer.status, error: answer.json.error }).toEqual({ path, status: 400, error });
      expect(answer.json.message).toMatch(message);
    }
    // A cursor of the events list is not one of the runs list.
    const eventCursor = Buffer.from(JSON.stringify(["e", 1, "x"])).toString("base64url");
    expect((await get(`/api/runs?cursor=${eventCursor}`)).json.error).toBe("invalid_cursor");
    expect((await get("/api/events/nope")).status).toBe(404);
    expect((await get("/api/runs")).status).toBe(200);
    for (const path of ["/api/runs", "/api/runs/x", "/api/events", "/api/events/x", "/api/health"]) {
      expect((await get(path, false)).status).toBe(401);
    }
  });

  it("GET /api/health judges each integration, schedule and webhook source with a reason", async () => {
    engine = testEngine({ storage: t.storage, integrations: [judgesOrders, nightly] });
    await engine.start();
    http = await startTestServer(engine, {
      apiTokens: [token],
      sources: { stripe: allProviderSources.stripe as never },
      integrations: [judgesOrders, nightly],
    });
    const healthy = await get("/api/health");
    expect(healthy.status).toBe(200);
    expect(healthy.json.integrations).toEqual([
      expect.objectContaining({ id: "judges-orders", status: "green", reason: "no runs ended in the last hour" }),
      expect.objectContaining({ id: "nightly-sync", status: "green" }),
    ]);
    expect(healthy.json.schedules).toEqual([
      expect.objectContaining({ integrationId: "nightly-sync", cron: "0 3 * * *", status: "green", lastTickAt: null }),
    ]);
    expect(Date.parse(healthy.json.schedules[0].nextTickAt)).toBeGreaterThan(Date.now());
    expect(healthy.json.webhookSources).toEqual([
      expect.objectContaining({ source: "stripe", status: "green", lastEventAt: null, rejectionsLastHour: {} }),
    ]);

    const ok = (await engine.send({ type: "order.judged", payload: { n: 1 } })).runIds[0] as string;
    const refused = (await engine.send({ type: "order.judged", payload: { n: 2, fail: true } })).runIds[0] as string;
    await waitForRunStatus(t.storage, ok, "succeeded");
    await waitForRunStatus(t.storage, refused, "failed");
    const forged = stripeRequest("evt_forged");
    await http.post("/hooks/stripe", { headers: forged.headers, body: forged.body.replace("evt_forged", "evt_other") });
    const signed = stripeRequest("evt_1");
    expect((await http.post("/hooks/stripe", signed)).status).toBe(200);

    const after = await get("/api/health");
    const judged = after.json.integrations.find((i: { id: string }) => i.id === "judges-orders");
    expect(judged).toMatchObject({
      status: "amber",
      reason: "1 run(s) ended failed or dead in the last hour: replay them once fixed",
      lastHour: { succeeded: 1, failed: 1, dead: 0, capped: false, successRate: 0.5 },
      lastFailure: { runId: refused, status: "failed", error: expect.stringContaining("refused for good") },
      oldestQueued: null,
    });
    expect(judged.lastHour.p95DurationMs).toEqual(expect.any(Number));
    expect(Date.parse(judged.lastSuccessAt)).toBeGreaterThan(0);
    expect(after.json.webhookSources[0]).toMatchObject({
      source: "stripe",
      status: "amber",
      rejectionsLastHour: { signature: 1 },
    });
    expect(after.json.webhookSources[0].lastEventAt).not.toBeNull();
    expect(after.json.status).toBe("amber");
  });
});
