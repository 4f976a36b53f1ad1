import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Connections } from "../../src/connections/connections.ts";
import type { Engine } from "../../src/engine/engine.ts";
import { buildHealthReport } from "../../src/observability/health-report.ts";
import { RecentRejections } from "../../src/observability/recent-rejections.ts";
import { defineIntegration } from "../../src/sdk/define-integration.ts";
import type { AuditRecord } from "../../src/storage/connection-store.ts";
import { ApiTestServer } from "../support/api-server.ts";
import { backends, useTestStorage } from "../support/backends.ts";
import { testConnections } from "../support/connections.ts";
import { testEngine, waitForRunStatus } from "../support/engine.ts";
import { waitFor } from "../support/wait.ts";

const start = Date.UTC(2026, 0, 1, 12, 0, 0);
const second = 1000;
const minute = 60 * second;

const postsOrder = defineIntegration<{ n: number }>({
  id: "posts-order",
  trigger: { event: "order" },
  retries: { maxAttempts: 10, initialDelay: 20, maxDelay: 50 },
  run: ({ event, step, connection }) =>
    step.run("post", async () => (await connection("api").post("/orders", { json: event.payload })).status),
});

/**
 * The connection verdict of `GET /api/health`, read from what storage holds: the auth status, the circuit, and
 * the audit trail of the connection's exchanges. Red while it does not work, green once a request succeeded
 * again, with the recovery in the reason.
 */
describe.each(backends)("a connection's health verdict ($name)", (backend) => {
  const t = useTestStorage(backend);
  let engine: Engine | undefined;
  let api: ApiTestServer | undefined;

  beforeEach(async () => {
    await t.storage.migrate();
  });

  afterEach(async () => {
    await engine?.stop({ deadlineMs: 1000 });
    engine = undefined;
    await api?.close();
    api = undefined;
  });

  /** Exchanges of connection "crm", as the connection client records them: `[ms after start, status]`. */
  async function exchanges(...answers: [number, number | null][]): Promise<void> {
    const records = answers.map(
      ([offset, status]): AuditRecord => ({
        id: `exchange-${offset}`,
        connectionId: "crm",
        runId: null,
        stepName: null,
        method: "POST",
        url: "http://crm.test/contacts",
        status,
        error: status === null ? "connect ECONNREFUSED" : null,
        durationMs: 3,
        requestHeaders: "{}",
        requestBody: null,
        responseHeaders: status === null ? null : "{}",
        responseBody: null,
        at: start + offset,
      }),
    );
    await t.storage.connections.appendAudit(records);
  }

  function reportAt(connections: Connections, now: number) {
    return buildHealthReport({
      storage: t.storage,
      integrationIds: [],
      schedules: [],
      polls: [],
      webhookSources: [],
      connections,
      rejections: new RecentRejections(() => ({}), now),
      now,
    });
  }

  async function verdictAt(offset: number) {
    const connections = testConnections(t.storage, { crm: { baseUrl: "http://crm.test" } });
    const report = await reportAt(connections, start + offset);
    await connections.stop();
    const crm = report.connections[0];
    if (!crm) throw new Error("the report has no connection");
    return crm;
  }

  it("is green, accepting requests, when its requests succeed", async () => {
    await exchanges([0, 200], [1 * second, 201]);
    expect(await verdictAt(2 * second)).toMatchObject({
      status: "green",
      reason: "accepting requests",
      failures: null,
    });
  });

  it("is red while its newest requests all failed, and says since when", async () => {
    await exchanges([0, 200], [10 * second, 503], [20 * second, null], [30 * second, 502]);
    const crm = await verdictAt(40 * second);
    expect(crm.status).toBe("red");
    expect(crm.reason).toBe("failing: 3 failed requests in a row, the first 30 s ago, and none succeeded since");
    expect(crm.failures).toEqual({
      count: 3,
      capped: false,
      since: new Date(start + 10 * second).toISOString(),
      recoveredAt: null,
    });
  });

  it("is amber after one or two failed requests with none succeeded since", async () => {
    await exchanges([0, 200], [10 * second, 503]);
    expect(await verdictAt(30 * second)).toMatchObject({
      status: "amber",
      reason: "1 failed request 20 s ago and none succeeded since",
    });
  });

  it("is red after a single failed request when the API asked for no request until later (a 503 with Retry-After)", async () => {
    await exchanges([0, 200], [10 * second, 503]);
    await t.storage.connections.recordRateLimitSignal({
      connectionId: "crm",
      pausedUntil: start + 10 * second + 45 * second,
      now: start + 10 * second,
    });
    expect(await verdictAt(15 * second)).toMatchObject({
      status: "red",
      reason:
        "failing: the last request failed 5 s ago and none succeeded since; the API asked for no request for 40 s more",
    });
  });

  it("turns green once a request succeeds, telling the recovery and how many requests failed before it", async () => {
    await exchanges([0, 200], [10 * second, 503], [20 * second, 503], [30 * second, 503], [40 * second, 200]);
    await exchanges([50 * second, 200]);
    const crm = await verdictAt(40 * second + 2 * minute);
    expect(crm.status).toBe("green");
    expect(crm.reason).toBe("recovered 2 min ago after 3 failed requests");
    expect(crm.failures).toMatchObject({ count: 3, recoveredAt: new Date(start + 40 * second).toISOString() });
    // An hour on, the recovery is history: the verdict is the plain one again.
    expect((await verdictAt(40 * second + 61 * minute)).reason).toBe("accepting requests");
  });

  it("judges a 4xx refusal as the request's fault, not the connection's", async () => {
    await exchanges([0, 200], [10 * second, 400], [20 * second, 422]);
    const crm = await verdictAt(30 * second);
    expect(crm).toMatchObject({ status: "green", reason: "accepting requests" });
    // The refusal is still shown as the connection's last error.
    expect(crm.lastError).toMatchObject({ status: 422 });
  });

  it("is amber, not red, when its requests failed long ago and none was sent since", async () => {
    await exchanges([0, 200], [10 * second, 503], [20 * second, 503], [30 * second, 503]);
    expect(await verdictAt(30 * second + 20 * minute)).toMatchObject({
      status: "amber",
      reason: "3 failed requests, the newest 20 min ago; none was sent since",
    });
  });

  it("is red while the circuit is open, whatever the audit trail shows", async () => {
    await exchanges([0, 200], [1 * second, 503], [2 * second, 503]);
    for (let failure = 0; failure < 3; failure += 1) {
      await t.storage.connections.recordCircuitFailure({
        connectionId: "crm",
        threshold: 3,
        cooldownMs: 30 * second,
        error: "POST /contacts answered 503",
        now: start + 2 * second,
      });
    }
    const crm = await verdictAt(3 * second);
    expect(crm.status).toBe("red");
    expect(crm.reason).toBe(
      "circuit open after 3 failed requests in a row, failing for 2 s; runs wait and resume once it closes",
    );
  });

  it("counts at most the exchanges it looks at, and says so", async () => {
    const failures = Array.from({ length: 600 }, (_, i): [number, number | null] => [i * 10, 503]);
    await exchanges(...failures);
    const crm = await verdictAt(6 * second + 100);
    expect(crm.status).toBe("red");
    expect(crm.reason).toMatch(/^failing: 500 or more failed requests in a row/);
    expect(crm.failures).toMatchObject({ count: 500, capped: true });
  });

  it("shows an outage of a real API red while the circuit is open, and green with the recovery after", async () => {
    api = new ApiTestServer();
    await api.start();
    let healthy = false;
    api.respond = () => (healthy ? { status: 201, body: { ok: true } } : { status: 503 });
    const connections = testConnections(t.storage, {
      api: { baseUrl: api.origin, circuit: { failureThreshold: 3, cooldown: "300ms" } },
    });
    engine = testEngine({ storage: t.storage, integrations: [postsOrder], connections });
    await engine.start();
    const runIds = await Promise.all(
      Array.from(
        { length: 5 },
        async (_, n) => (await (engine as Engine).send({ type: "order", payload: { n } })).runIds[0],
      ),
    );
    const report = () => reportAt(connections, Date.now());
    const during = await waitFor("the API connection to be red", async () => {
      const verdict = (await report()).connections[0];
      return verdict?.status === "red" ? verdict : null;
    });
    expect(during.reason).toMatch(/^(circuit open after \d+ failed requests in a row|failing: )/);

    healthy = true;
    for (const runId of runIds) await waitForRunStatus(t.storage, runId as string, "succeeded", 20_000);
    await connections.audit.flush();
    const after = (await report()).connections[0];
    expect(after?.status).toBe("green");
    const failed = api.requests.length - runIds.length;
    expect(after?.reason).toMatch(/^recovered \d+ s ago after \d+ failed requests?$/);
    // Every failed request in the audit trail is counted, none of the successes.
    expect(after?.failures?.count).toBe(failed);
  });
});
