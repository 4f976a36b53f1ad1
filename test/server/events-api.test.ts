import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Engine } from "../../src/engine/engine.ts";
import { defineIntegration } from "../../src/sdk/define-integration.ts";
import type { Storage } from "../../src/storage/contract.ts";
import { backends, useTestStorage } from "../support/backends.ts";
import { testEngine } from "../support/engine.ts";
import { type RunningServer, startTestServer } from "../support/server.ts";

const token = "test-api-token-123";
const onOrder = defineIntegration({ id: "on-order", trigger: { event: "order.created" }, run: () => {} });

function apiRequest(body: unknown, headers: Record<string, string> = {}) {
  return {
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  };
}

/**
 * Storage whose event commits wait until `open()` is called: holds a request "in flight"
 * for as long as a test needs, without timing.
 */
function gatedStorage(storage: Storage) {
  let release: () => void = () => {};
  let gate: Promise<void> = Promise.resolve();
  let waiting = 0;
  const acceptEvents: Storage["acceptEvents"] = async (events) => {
    waiting++;
    await gate;
    return storage.acceptEvents(events);
  };
  const gated = new Proxy(storage, {
    get(target, property) {
      if (property === "acceptEvents") return acceptEvents;
      const value = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return {
    storage: gated,
    close() {
      gate = new Promise((resolve) => {
        release = resolve;
      });
    },
    open: () => release(),
    waiting: () => waiting,
  };
}

describe.each(backends)("the event API on $name", (backend) => {
  const t = useTestStorage(backend);
  let engine: Engine;
  let http: RunningServer;
  let gate: ReturnType<typeof gatedStorage>;

  beforeEach(async () => {
    gate = gatedStorage(t.storage);
    engine = testEngine({ storage: gate.storage, integrations: [onOrder], worker: false });
    await engine.start();
    http = await startTestServer(engine, { apiTokens: ["another-token", token], sources: {} });
  });
  afterEach(async () => {
    gate.open();
    await http.server.close();
    await engine.stop();
  });

  it("stores an event sent with a valid bearer token (202) and starts its runs", async () => {
    const answer = await http.post("/api/events", apiRequest({ type: "order.created", payload: { order: 7 } }));
    expect(answer.status, answer.text).toBe(202);
    expect(answer.json).toEqual({ id: expect.any(String), duplicate: false });
    expect(JSON.parse((await t.storage.getEvent(answer.json.id))?.payloadJson ?? "")).toEqual({ order: 7 });
    expect(await t.storage.listRuns({ eventId: answer.json.id })).toHaveLength(1);
  });

  it("refuses a missing or wrong token (401), non-JSON (415), broken JSON and invalid events (400), reserved sources (400)", async () => {
    const event = { type: "order.created", payload: {} };
    const noToken = await http.post("/api/events", { headers: { "content-type": "application/json" }, body: "{}" });
    expect(noToken.status).toBe(401);
    expect((await http.post("/api/events", apiRequest(event, { authorization: "Bearer wrong" }))).status).toBe(401);
    expect((await http.post("/api/events", apiRequest(event, { "content-type": "text/plain" }))).status).toBe(415);
    const broken = await http.post("/api/events", apiRequest("{nope"));
    expect([broken.status, broken.json.error]).toEqual([400, "invalid_json"]);
    const noType = await http.post("/api/events", apiRequest({ payload: 1 }));
    expect([noType.status, noType.json.error]).toEqual([400, "invalid_event"]);
    expect(noType.json.message).toContain("event type");
    const posing = await http.post("/api/events", apiRequest({ ...event, source: "schedule" }));
    expect([posing.status, posing.json.error]).toEqual([400, "reserved_source"]);
    expect(await t.storage.listEvents()).toHaveLength(0);
  });

  it("is disabled (401, saying how to enable it) when no token is configured", async () => {
    const closed = await startTestServer(engine, { sources: {} });
    try {
      const answer = await closed.post("/api/events", apiRequest({ type: "order.created", payload: {} }));
      expect([answer.status, answer.json.error]).toEqual([401, "api_disabled"]);
      expect(answer.json.message).toContain("TENON_API_TOKENS");
    } finally {
      await closed.server.close();
    }
  });

  it("Idempotency-Key: the same key and body get the original result; another body gets 422", async () => {
    const event = { type: "order.created", payload: { order: 1 } };
    const first = await http.post("/api/events", apiRequest(event, { "idempotency-key": "k-1" }));
    expect(first.status).toBe(202);
    const again = await http.post("/api/events", apiRequest(event, { "idempotency-key": "k-1" }));
    expect(again.status).toBe(202);
    expect(again.json).toEqual(first.json);
    expect(again.headers.get("idempotent-replayed")).toBe("true");

    const changed = await http.post(
      "/api/events",
      apiRequest({ ...event, payload: { order: 2 } }, { "idempotency-key": "k-1" }),
    );
    expect([changed.status, changed.json.error]).toEqual([422, "idempotency_key_reused"]);
    expect(await t.storage.listEvents()).toHaveLength(1);
    expect(await t.storage.listRuns()).toHaveLength(1);
  });

  it("Idempotency-Key: while the first request is still being committed, the same key gets 409", async () => {
    const event = apiRequest({ type: "order.created", payload: { order: 3 } }, { "idempotency-key": "k-busy" });
    gate.close();
    const first = http.post("/api/events", event);
    while (gate.waiting() === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    const second = await http.post("/api/events", event);
    expect([second.status, second.json.error]).toEqual([409, "idempotency_key_in_flight"]);
    expect(second.headers.get("retry-after")).toBe("1");
    gate.open();
    expect((await first).status).toBe(202);
    const third = await http.post("/api/events", event);
    expect([third.status, third.json.id]).toEqual([202, (await first).json.id]);
  });
});
