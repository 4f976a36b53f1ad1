import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startTenonServices } from "../../src/app/tenon-services.ts";
import { defineConfig } from "../../src/config/define-config.ts";
import { readSettings } from "../../src/config/settings.ts";
import type { Connections } from "../../src/connections/connections.ts";
import type { Engine } from "../../src/engine/engine.ts";
import { createMetrics, type TenonMetrics } from "../../src/observability/metrics.ts";
import { defineIntegration } from "../../src/sdk/define-integration.ts";
import { ApiTestServer } from "../support/api-server.ts";
import { backends, useTestStorage } from "../support/backends.ts";
import { testConnections, testVault } from "../support/connections.ts";
import { silentLogger, testEngine, waitForRunStatus } from "../support/engine.ts";
import { nonZeroSeries, parsePrometheusText, seriesValue } from "../support/prometheus-text.ts";
import { type RunningServer, startTestServer } from "../support/server.ts";
import { stripeRequest } from "../support/signed-webhooks.ts";
import { waitFor } from "../support/wait.ts";

const apiToken = "api-token-for-metrics-test";
const metricsToken = "metrics-token-0123456789";

/** Three integrations: one retries a step once, one dies at once, one is rate limited once; all call the API. */
const integrations = [
  defineIntegration({
    id: "charge",
    trigger: { event: "payment_intent.succeeded", source: "stripe" },
    retries: { maxAttempts: 5, initialDelay: "10ms", maxDelay: "20ms" },
    run: async ({ step, connection }) => {
      await step.run("capture", () =>
        connection("api")
          .post("/capture", { json: {} })
          .then(() => "ok"),
      );
    },
  }),
  defineIntegration({
    id: "doomed",
    trigger: { event: "doomed" },
    retries: { maxAttempts: 1 },
    run: async ({ step }) => {
      await step.run("explode", () => {
        throw new Error("always");
      });
    },
  }),
  defineIntegration({
    id: "limited",
    trigger: { event: "limited" },
    run: async ({ step, connection }) => {
      await step.run("call", () =>
        connection("api")
          .post("/limited", { json: {} })
          .then(() => "ok"),
      );
    },
  }),
];

describe.each(backends)("/metrics on $name", (backend) => {
  const t = useTestStorage(backend);
  const api = new ApiTestServer();
  let metrics: TenonMetrics;
  let connections: Connections;
  let engine: Engine;
  let http: RunningServer;

  beforeEach(async () => {
    await api.start();
    metrics = createMetrics();
    connections = testConnections(t.storage, { api: { baseUrl: api.origin } }, { metrics });
    engine = testEngine({ storage: t.storage, integrations, connections, metrics });
    await engine.start();
    http = await startTestServer(engine, { apiTokens: [apiToken], metricsRoute: { token: metricsToken } });
  });
  afterEach(async () => {
    await http.server.close();
    await engine.stop();
    await api.close();
  });

  async function scrape(token: string | null = metricsToken) {
    return fetch(`${http.url}/metrics`, token === null ? {} : { headers: { authorization: `Bearer ${token}` } });
  }

  async function sendApiEvent(type: string): Promise<string> {
    const answer = await http.post("/api/events", {
      headers: { "content-type": "application/json", authorization: `Bearer ${apiToken}` },
      body: JSON.stringify({ type, payload: {} }),
    });
    expect(answer.status).toBe(202);
    const [run] = await t.storage.listRuns({ eventId: answer.json.id });
    return run?.id as string;
  }

  it("after a scripted scenario, the counters and histogram counts are exactly what happened", async () => {
    const calls = new Map<string, number>();
    api.respond = (request) => {
      const n = (calls.get(request.path) ?? 0) + 1;
      calls.set(request.path, n);
      if (request.path === "/capture" && n === 1) return { status: 500, body: { error: "try again" } };
      if (request.path === "/limited" && n === 1) return { status: 429, headers: { "retry-after": "1" } };
      return { status: 200, body: { ok: true } };
    };

    // Webhooks: one accepted, its redelivery, one forged.
    const first = await http.post("/hooks/stripe", stripeRequest("evt_1"));
    expect(first.status).toBe(200);
    expect((await http.post("/hooks/stripe", stripeRequest("evt_1"))).json.duplicate).toBe(true);
    const forged = stripeRequest("evt_2");
    expect((await http.post("/hooks/stripe", { ...forged, body: forged.body.replace("evt_2", "evt_3") })).status).toBe(
      401,
    );
    const [charge] = await t.storage.listRuns({ eventId: first.json.id });
    const doomed = await sendApiEvent("doomed");
    await waitForRunStatus(t.storage, charge?.id as string, "succeeded");
    await waitForRunStatus(t.storage, doomed, "dead");
    // Only once the charge is done: its retried call would otherwise wait out the same connection's 429 pause
    // (rightly), and count as a second wait.
    const limited = await sendApiEvent("limited");
    await waitForRunStatus(t.storage, limited, "succeeded", 10_000);

    const answer = await scrape();
    expect(answer.status).toBe(200);
    expect(answer.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    // A run is counted once its last transition has resolved in the worker, a moment after storage shows it.
    const families = await waitFor("the three runs to be counted", async () => {
      const parsed = parsePrometheusText(await (await scrape()).text());
      const ended = Object.values(nonZeroSeries(parsed, "tenon_runs_ended_total")).reduce((a, b) => a + b, 0);
      return ended === 3 ? parsed : null;
    });

    expect(nonZeroSeries(families, "tenon_events_received_total")).toEqual({
      "outcome=accepted,source=api": 2,
      "outcome=accepted,source=stripe": 1,
      "outcome=duplicate,source=stripe": 1,
    });
    expect(nonZeroSeries(families, "tenon_webhook_rejections_total")).toEqual({ "check=signature,source=stripe": 1 });
    expect(nonZeroSeries(families, "tenon_runs_ended_total")).toEqual({
      "integration=charge,status=succeeded": 1,
      "integration=doomed,status=dead": 1,
      "integration=limited,status=succeeded": 1,
    });
    expect(nonZeroSeries(families, "tenon_step_attempts_total")).toEqual({
      "integration=charge,outcome=failed,step=capture": 1,
      "integration=charge,outcome=succeeded,step=capture": 1,
      "integration=doomed,outcome=failed,step=explode": 1,
      "integration=limited,outcome=succeeded,step=call": 1,
      "integration=limited,outcome=waited,step=call": 1,
    });
    // One observation per run: the duration when it ended, the schedule-to-start of its first execution only.
    const perIntegration = { "integration=charge": 1, "integration=doomed": 1, "integration=limited": 1 };
    expect(nonZeroSeries(families, "tenon_run_duration_seconds_count")).toEqual(perIntegration);
    expect(nonZeroSeries(families, "tenon_schedule_to_start_seconds_count")).toEqual(perIntegration);
    expect(nonZeroSeries(families, "tenon_http_client_request_duration_seconds_count")).toEqual({
      "connection=api,method=POST,status_class=2xx": 2,
      "connection=api,method=POST,status_class=4xx": 1,
      "connection=api,method=POST,status_class=5xx": 1,
    });
    expect(nonZeroSeries(families, "tenon_rate_limit_waits_total")).toEqual({ "connection=api": 1 });

    // Read from storage at scrape time.
    expect(nonZeroSeries(families, "tenon_runs")).toEqual({ "status=dead": 1, "status=succeeded": 2 });
    expect(seriesValue(families, "tenon_runs", { status: "queued" })).toBe(0);
    expect(seriesValue(families, "tenon_oldest_queued_run_age_seconds")).toBe(0);
    expect(seriesValue(families, "tenon_connection_state", { connection: "api", state: "active" })).toBe(1);
    expect(seriesValue(families, "tenon_connection_state", { connection: "api", state: "auth_failed" })).toBe(0);
    expect(seriesValue(families, "tenon_circuit_open", { connection: "api" })).toBe(0);

    // No label carries an id: not a run's, an event's, a provider's event id, nor an idempotency key.
    const runs = await t.storage.listRuns();
    const events = await t.storage.listEvents();
    const ids = [...runs.map((r) => r.id), ...events.flatMap((e) => [e.id, e.dedupKey ?? "evt_1"]), "evt_3"];
    const labelValues = families.flatMap((f) => f.metrics.flatMap((m) => Object.values(m.labels ?? {})));
    expect(labelValues.length).toBeGreaterThan(0);
    for (const value of labelValues) for (const id of ids) expect(value).not.toContain(id);
    const labelNames = new Set(families.flatMap((f) => f.metrics.flatMap((m) => Object.keys(m.labels ?? {}))));
    const allowed = ["source", "outcome", "check", "integration", "status", "step", "connection", "method"];
    expect([...labelNames].filter((name) => ![...allowed, "status_class", "state", "le"].includes(name))).toEqual([]);
  });

  it("with TENON_METRICS_TOKEN set, /metrics answers 401 without the token or with a wrong one", async () => {
    const none = await scrape(null);
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toMatch(/^Bearer/);
    expect(((await none.json()) as { error: string }).error).toBe("unauthorized");
    const wrong = await scrape("metrics-token-0123456780");
    expect(wrong.status).toBe(401);
    expect(await wrong.text()).not.toContain(metricsToken);
    expect((await scrape()).status).toBe(200);
  });

  it("scrapes within the cache period share one read of the runs from storage", async () => {
    const cached = createMetrics({ stateCacheMs: 60_000 });
    let reads = 0;
    cached.readRunsFrom({
      countRunsByStatus: () => {
        reads++;
        return t.storage.countRunsByStatus();
      },
      nextDueAt: () => t.storage.nextDueAt(),
      now: Date.now,
    });
    await Promise.all([cached.registry.metrics(), cached.registry.metrics()]);
    await cached.registry.metrics();
    expect(reads).toBe(1);
  });
});

describe.each(backends)("a Tenon process's metrics settings on $name", (backend) => {
  const t = useTestStorage(backend);

  async function start(env: Record<string, string>) {
    const settings = readSettings({ TENON_HTTP_PORT: "0", ...env });
    return startTenonServices({
      config: defineConfig({ integrations: [] }),
      settings,
      storage: t.db.open(),
      vault: testVault(),
      logger: silentLogger,
    });
  }

  it("TENON_METRICS_PORT serves /metrics (with process metrics) on its own port, not on the main one", async () => {
    const services = await start({ TENON_METRICS_PORT: "0", TENON_METRICS_TOKEN: metricsToken });
    try {
      expect(services.metricsAddress).toBeDefined();
      expect(services.metricsAddress).not.toBe(services.address);
      expect((await fetch(`${services.address}/metrics`)).status).toBe(404);
      expect((await fetch(`${services.metricsAddress}/metrics`)).status).toBe(401);
      const answer = await fetch(`${services.metricsAddress}/metrics`, {
        headers: { authorization: `Bearer ${metricsToken}` },
      });
      expect(answer.status).toBe(200);
      const families = parsePrometheusText(await answer.text());
      expect(seriesValue(families, "process_cpu_user_seconds_total")).toBeGreaterThan(0);
      expect(families.map((f) => f.name)).toContain("tenon_runs");
    } finally {
      await services.stop(1000);
    }
  });

  it("TENON_METRICS=off removes /metrics and records nothing", async () => {
    const services = await start({ TENON_METRICS: "off" });
    try {
      expect(services.engine.metrics.enabled).toBe(false);
      expect((await fetch(`${services.address}/metrics`)).status).toBe(404);
      expect((await services.engine.metrics.registry.metrics()).trim()).toBe("");
    } finally {
      await services.stop(1000);
    }
  });
});
