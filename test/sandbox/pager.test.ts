import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Sandbox } from "../../src/sandbox/create-sandbox.ts";
import { createPager, type PagerSystem } from "../../src/sandbox/systems/pager.ts";
import { startTestSandbox } from "../support/sandbox.ts";

// biome-ignore lint/suspicious/noExplicitAny: an answer's JSON, which the assertions check
type Json = any;

let sandbox: Sandbox;
let pager: PagerSystem;
let routingKey: string;

async function enqueue(event: unknown): Promise<{ status: number; body: Json }> {
  const response = await fetch(`${sandbox.baseUrl("pager")}/v2/enqueue`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof event === "string" ? event : JSON.stringify(event),
  });
  return { status: response.status, body: await response.json() };
}

const trigger = (dedupKey: string | undefined, summary = "Run dead: order-to-invoice (3 runs)") => ({
  routing_key: routingKey,
  event_action: "trigger",
  ...(dedupKey === undefined ? {} : { dedup_key: dedupKey }),
  payload: {
    summary,
    source: "tenon",
    severity: "error",
    timestamp: "2026-12-06T16:00:00Z",
    component: "order-to-invoice",
    custom_details: { deadRuns: 3 },
  },
  links: [{ href: "http://127.0.0.1:3000/runs/r1", text: "Open the run" }],
});

beforeAll(async () => {
  sandbox = await startTestSandbox({ pager: (context) => createPager(context) });
  pager = sandbox.system<PagerSystem>("pager");
  routingKey = sandbox.credentials("pager").routingKey as string;
});

afterAll(async () => {
  await sandbox.close();
});

describe("pager sandbox (PagerDuty Events API v2)", () => {
  it("opens an incident on a trigger and answers 202 with the dedup key", async () => {
    const reply = await enqueue(trigger("alert-fp-1"));
    expect(reply).toEqual({
      status: 202,
      body: { status: "success", message: "Event processed", dedup_key: "alert-fp-1" },
    });
    expect(pager.incident("alert-fp-1")).toMatchObject({
      status: "triggered",
      summary: "Run dead: order-to-invoice (3 runs)",
      severity: "error",
      source: "tenon",
      eventCount: 1,
    });
  });

  it("adds a second trigger with the same dedup key to the open incident, and resolve closes it", async () => {
    await enqueue(trigger("alert-fp-2"));
    const again = await enqueue(trigger("alert-fp-2", "Run dead: order-to-invoice (5 runs)"));
    expect(again.body.dedup_key).toBe("alert-fp-2");
    const incidents = pager.incidents().filter((incident) => incident.dedupKey === "alert-fp-2");
    expect(incidents).toHaveLength(1);
    expect(incidents[0]).toMatchObject({ status: "triggered", eventCount: 2 });

    const ack = await enqueue({ routing_key: routingKey, event_action: "acknowledge", dedup_key: "alert-fp-2" });
    expect(ack.status).toBe(202);
    expect(pager.incident("alert-fp-2")).toMatchObject({ status: "acknowledged", eventCount: 3 });

    const resolve = await enqueue({ routing_key: routingKey, event_action: "resolve", dedup_key: "alert-fp-2" });
    expect(resolve.body).toEqual({ status: "success", message: "Event processed", dedup_key: "alert-fp-2" });
    expect(pager.incident("alert-fp-2")).toMatchObject({
      status: "resolved",
      eventCount: 4,
      resolvedAt: expect.any(String),
    });

    await enqueue(trigger("alert-fp-2"));
    const reopened = pager.incidents().filter((incident) => incident.dedupKey === "alert-fp-2");
    expect(reopened.map((incident) => incident.status)).toEqual(["resolved", "triggered"]);
  });

  it("generates a dedup key for a trigger without one", async () => {
    const reply = await enqueue(trigger(undefined));
    expect(reply.status).toBe(202);
    expect(reply.body.dedup_key).toMatch(/^[0-9a-f]{32}$/);
    expect(pager.incident(reply.body.dedup_key)?.status).toBe("triggered");
  });

  it("keeps every accepted event in its log, as sent but for the routing key", async () => {
    const resolve = { routing_key: routingKey, event_action: "resolve", dedup_key: "never-triggered" };
    expect((await enqueue(resolve)).status).toBe(202);
    expect(pager.events().at(-1)).toMatchObject({
      eventAction: "resolve",
      incidentId: null,
      body: { ...resolve, routing_key: "[redacted]" },
    });
    const state = await (await fetch(`${sandbox.url}/_sandbox/pager/state`)).text();
    expect(state).toContain('"eventAction":"resolve"');
    expect(state).not.toContain(routingKey);
    expect(pager.incident("never-triggered")).toBeUndefined();
  });

  it("answers 400 invalid event with every error for a missing or invalid field, and keeps nothing", async () => {
    const before = pager.events().length;
    const invalid = await enqueue({
      routing_key: routingKey,
      event_action: "trigger",
      payload: { summary: "x".repeat(1025), severity: "fatal" },
    });
    expect(invalid.status).toBe(400);
    expect(invalid.body).toEqual({
      status: "invalid event",
      message: "Event object is invalid",
      errors: [
        "'payload.summary' is longer than 1024 characters",
        "'payload.source' is missing or blank",
        "'payload.severity' is invalid (must be one of: critical, error, warning, info)",
      ],
    });

    const noAction = await enqueue({ routing_key: routingKey, payload: trigger("k").payload });
    expect(noAction.body.errors).toEqual(["'event_action' is invalid (must be one of: trigger, acknowledge, resolve)"]);

    const resolveWithoutKey = await enqueue({ routing_key: routingKey, event_action: "resolve" });
    expect(resolveWithoutKey.body.errors).toEqual(["'dedup_key' is required for acknowledge and resolve events"]);

    const notJson = await enqueue("{ nope");
    expect(notJson.status).toBe(400);
    expect(notJson.body.status).toBe("invalid event");
    expect(pager.events().length).toBe(before);
  });

  it("answers 400 Invalid routing key for an unknown or revoked key", async () => {
    const unknown = await enqueue({ ...trigger("k"), routing_key: "0".repeat(32) });
    expect(unknown).toMatchObject({ status: 400, body: { errors: ["Invalid routing key"] } });
    const short = await enqueue({ ...trigger("k"), routing_key: "abc" });
    expect(short.body.errors).toEqual(["Length of 'routing_key' is incorrect (should be 32 characters)"]);

    sandbox.setFaults("pager", { revokeCredentials: true });
    expect((await enqueue(trigger("k"))).body.errors).toEqual(["Invalid routing key"]);
    sandbox.setFaults("pager", { restoreCredentials: true });
    expect((await enqueue(trigger("k"))).status).toBe(202);
  });

  it("answers 429 with Retry-After under the rate-limit fault", async () => {
    sandbox.setFaults("pager", { rateLimitRate: 1, retryAfterSeconds: 4 });
    const response = await fetch(`${sandbox.baseUrl("pager")}/v2/enqueue`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(trigger("limited")),
    });
    sandbox.setFaults("pager", { rateLimitRate: null });
    expect(response.status).toBe(429);
    expect(response.headers.get("retry-after")).toBe("4");
    expect(pager.incident("limited")).toBeUndefined();
  });
});
