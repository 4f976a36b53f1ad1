import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DriftLearner } from "../../src/drift/drift-learner.ts";
import type { Engine } from "../../src/engine/engine.ts";
import { backends, useTestStorage } from "../support/backends.ts";
import { ManualClock } from "../support/clock.ts";
import { silentLogger, testEngine } from "../support/engine.ts";
import { type RunningServer, startTestServer } from "../support/server.ts";
import { stripeRequest } from "../support/signed-webhooks.ts";

const tokens = { operator: "operator-token-0123456789", viewer: "viewer-token-0123456789" };

describe.each(backends)("GET /api/drift and POST /api/drift/:id/accept on $name", (backend) => {
  const t = useTestStorage(backend);
  // Starts now: webhook signatures are checked against this clock, and Stripe signs with the real time.
  const clock = new ManualClock(Date.now());
  let engine: Engine;
  let learner: DriftLearner;
  let running: RunningServer;

  beforeEach(async () => {
    engine = testEngine({ storage: t.storage, integrations: [], worker: false });
    await engine.start();
    learner = new DriftLearner({
      store: t.storage.drift,
      clock,
      logger: silentLogger,
      maxSamplesPerSecond: 1000,
      thresholds: { minSamples: 5 },
    });
    await learner.start();
    running = await startTestServer(engine, {
      apiTokens: [
        { name: "alice", role: "operator", token: tokens.operator },
        { name: "wallboard", role: "viewer", token: tokens.viewer },
      ],
      observeEvent: learner.observeEvent,
      now: () => clock.now(),
    });
  });
  afterEach(async () => {
    await running.server.close();
    await learner.stop();
    await engine.stop();
  });

  async function call(method: string, path: string, token: string) {
    const response = await fetch(`${running.url}${path}`, { method, headers: { authorization: `Bearer ${token}` } });
    return { status: response.status, json: (await response.json()) as Record<string, unknown> };
  }

  it("a webhook event with a new field is listed for review; an operator accepts it and it is gone from the open list", async () => {
    for (let i = 0; i < 5; i++)
      expect((await running.post("/hooks/stripe", stripeRequest(`evt_${i}`))).status).toBe(200);
    for (let i = 5; i < 8; i++) {
      const answer = await running.post("/hooks/stripe", stripeRequest(`evt_${i}`, undefined, { amount: 1200 }));
      expect(answer.status).toBe(200);
    }
    // A redelivery is not a new body: it is not learned twice.
    await running.post("/hooks/stripe", stripeRequest("evt_7", undefined, { amount: 1200 }));
    await learner.persist();

    const listed = await call("GET", "/api/drift?open=true", tokens.viewer);
    expect(listed.status).toBe(200);
    expect(listed.json).toMatchObject({
      incidents: [
        {
          kind: "webhook",
          subject: "stripe",
          eventType: "payment_intent.succeeded",
          fieldPath: "data.object.amount",
          change: "added",
          breaking: false,
          example: "number",
          seenCount: 3,
          detectedAt: new Date(clock.now()).toISOString(),
          acceptedAt: null,
        },
      ],
      nextCursor: null,
    });
    const [incident] = listed.json.incidents as { id: string }[];

    expect((await call("POST", `/api/drift/${incident?.id}/accept`, tokens.viewer)).status).toBe(403);
    expect((await call("POST", "/api/drift/no-such-incident/accept", tokens.operator)).status).toBe(404);
    const accepted = await call("POST", `/api/drift/${incident?.id}/accept`, tokens.operator);
    expect(accepted).toMatchObject({ status: 200, json: { accepted: 1 } });

    expect((await call("GET", "/api/drift?open=true", tokens.viewer)).json.incidents).toEqual([]);
    expect((await call("GET", "/api/drift?open=false", tokens.viewer)).json.incidents).toMatchObject([
      { id: incident?.id, acceptedBy: "api:alice", acceptedAt: new Date(clock.now()).toISOString() },
    ]);
    const log = await t.storage.operatorAccess.listOperatorLog({ limit: 10 });
    expect(log).toContainEqual(
      expect.objectContaining({
        actor: "alice",
        action: "POST /api/drift/:id/accept",
        target: incident?.id,
        status: 200,
        detail: expect.stringMatching(/^accepted shape \S+ \(1 open incident\(s\)\)$/),
      }),
    );
  });

  it("refuses filters and pages it does not understand", async () => {
    expect(await call("GET", "/api/drift?open=yes", tokens.viewer)).toMatchObject({
      status: 400,
      json: { error: "invalid_open" },
    });
    expect((await call("GET", "/api/drift?limit=0", tokens.viewer)).status).toBe(400);
    expect((await call("GET", "/api/drift?cursor=nope", tokens.viewer)).status).toBe(400);
  });
});
