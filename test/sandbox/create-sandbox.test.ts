import { afterEach, describe, expect, it } from "vitest";
import type { Sandbox } from "../../src/sandbox/create-sandbox.ts";
import { outageOnly, type SandboxContext, type SandboxSystem } from "../../src/sandbox/sandbox-system.ts";
import { startTestSandbox } from "../support/sandbox.ts";
import { waitFor } from "../support/wait.ts";
import { WebhookReceiver } from "../support/webhook-receiver.ts";

/** A minimal system: a counter of processed writes, so a test sees whether a failed request was processed. */
function createCounter(context: SandboxContext): SandboxSystem & { processed: number } {
  const system = {
    name: "counter",
    processed: 0,
    registerRoutes(app: Parameters<SandboxSystem["registerRoutes"]>[0]) {
      app.post("/v1/things", async (request) => {
        system.processed += 1;
        const body = request.body as { name?: string } | undefined;
        return { id: system.processed, name: body?.name ?? null, price: 12, nested: [{ price: 3 }] };
      });
      app.post("/oauth/token", { config: outageOnly }, async () => ({ access_token: "t" }));
      app.post("/v1/announce", async () => {
        context.webhooks.send({
          id: `evt_${system.processed}`,
          topic: "thing.created",
          body: JSON.stringify({ processed: system.processed }),
          headers: (attempt) => ({ "x-attempt": String(attempt) }),
        });
        return { queued: true };
      });
    },
    state: () => ({ processed: system.processed }),
    counts: () => ({ processed: system.processed }),
    credentials: () => ({ apiKey: "key" }),
    revokeCredentials() {},
    restoreCredentials() {},
  };
  return system;
}

let sandbox: Sandbox | undefined;
afterEach(async () => {
  await sandbox?.close();
  sandbox = undefined;
});

async function post(path: string, body: unknown = {}): Promise<{ status: number; headers: Headers; json: unknown }> {
  const response = await fetch(`${sandbox?.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: response.status, headers: response.headers, json: await response.json() };
}

describe("the sandbox", () => {
  it("serves a system under its prefix, shows its state and captures its requests", async () => {
    sandbox = await startTestSandbox({ counter: createCounter });
    expect((await post("/counter/v1/things", { name: "a" })).json).toMatchObject({ id: 1, name: "a" });
    const state = await (await fetch(`${sandbox.url}/_sandbox/counter/state`)).json();
    expect(state).toMatchObject({ system: "counter", processed: 1 });
    const [captured] = sandbox.requests("counter");
    expect(captured).toMatchObject({ method: "POST", path: "/v1/things", body: '{"name":"a"}' });
    expect(captured?.headers["content-type"]).toBe("application/json");
  });

  it("answers 503 with Retry-After during an outage, token endpoints included, and recovers after it", async () => {
    sandbox = await startTestSandbox({ counter: createCounter });
    const until = Date.now() + 3_000;
    await post("/_sandbox/counter/faults", { outageUntil: new Date(until).toISOString() });
    const during = await post("/counter/v1/things");
    expect(during.status).toBe(503);
    expect(Number(during.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect((await post("/counter/oauth/token")).status).toBe(503);
    expect(sandbox.system<ReturnType<typeof createCounter>>("counter").processed).toBe(0);
    await post("/_sandbox/counter/faults", { outageUntil: null });
    expect((await post("/counter/v1/things")).status).toBe(200);
  });

  it("injects 429 with the configured Retry-After, and spares token endpoints", async () => {
    sandbox = await startTestSandbox({ counter: createCounter });
    sandbox.setFaults("counter", { rateLimitRate: 1, retryAfterSeconds: 7 });
    const limited = await post("/counter/v1/things");
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toBe("7");
    expect((await post("/counter/oauth/token")).status).toBe(200);
  });

  it("a 5xx before processing changes nothing; a 5xx after processing loses only the answer", async () => {
    sandbox = await startTestSandbox({ counter: createCounter });
    const counter = sandbox.system<ReturnType<typeof createCounter>>("counter");
    sandbox.setFaults("counter", { errorRate: 1, errorTiming: "before" });
    expect([500, 502, 503]).toContain((await post("/counter/v1/things")).status);
    expect(counter.processed).toBe(0);
    sandbox.setFaults("counter", { errorTiming: "after" });
    const after = await post("/counter/v1/things");
    expect([500, 502, 503]).toContain(after.status);
    expect(after.json).toMatchObject({ message: expect.stringContaining("after processing") });
    expect(counter.processed).toBe(1);
  });

  it("renames, drops and retypes a field in every answer", async () => {
    sandbox = await startTestSandbox({ counter: createCounter });
    sandbox.setFaults("counter", { schemaChange: { field: "price", action: "rename", to: "unit_price" } });
    expect((await post("/counter/v1/things")).json).toMatchObject({ unit_price: 12, nested: [{ unit_price: 3 }] });
    sandbox.setFaults("counter", { schemaChange: { field: "price", action: "retype" } });
    expect((await post("/counter/v1/things")).json).toMatchObject({ price: "12", nested: [{ price: "3" }] });
    sandbox.setFaults("counter", { schemaChange: { field: "price", action: "drop" } });
    expect((await post("/counter/v1/things")).json).not.toHaveProperty("price");
    sandbox.setFaults("counter", { schemaChange: null });
    expect((await post("/counter/v1/things")).json).toHaveProperty("price", 12);
  });

  it("rejects a malformed fault request with a 400 that says why, and keeps the faults it had", async () => {
    sandbox = await startTestSandbox({ counter: createCounter });
    sandbox.setFaults("counter", { errorRate: 0.2 });
    const bad = await post("/_sandbox/counter/faults", { errorRate: 2, latency: 5 });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.json)).toMatch(/errorRate|latency/);
    const rename = await post("/_sandbox/counter/faults", { schemaChange: { field: "x", action: "rename" } });
    expect(rename.status).toBe(400);
    expect(sandbox.faults("counter").errorRate).toBe(0.2);
  });

  it("delivers webhooks with retries until the target accepts, keeping the delivery id", async () => {
    const target = new WebhookReceiver();
    target.failures = 2;
    await target.start();
    try {
      sandbox = await startTestSandbox(
        { counter: createCounter },
        // The default schedule (Standard Webhooks: 5 s, then 5 min, …) a thousand times faster.
        { webhookUrls: { counter: `${target.origin}/hooks/counter` }, webhookTimeScale: 1000 },
      );
      await post("/counter/v1/announce");
      const webhooks = sandbox.webhooks("counter");
      await waitFor("the webhook delivered", () => webhooks.state().delivered === 1, 10_000);
      expect(target.received.map((delivery) => delivery.headers["x-attempt"])).toEqual(["1", "2", "3"]);
      expect(webhooks.state().deliveries.delivered).toEqual([
        expect.objectContaining({ id: "evt_0", attempts: 3, status: "delivered" }),
      ]);
    } finally {
      await target.close();
    }
  });
});
