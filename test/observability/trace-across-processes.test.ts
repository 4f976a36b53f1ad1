import { randomBytes } from "node:crypto";
import {
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_URL_FULL,
  ATTR_URL_PATH,
} from "@opentelemetry/semantic-conventions";
import { ATTR_URL_TEMPLATE } from "@opentelemetry/semantic-conventions/incubating";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { spawnFixture, type WorkerProcess } from "../fixtures/spawn-worker.ts";
import { ApiTestServer } from "../support/api-server.ts";
import { postgresBackend, useTestStorage } from "../support/backends.ts";
import { waitForRunStatus } from "../support/engine.ts";
import { OtlpReceiver, otlpKind, type ReceivedSpan } from "../support/otlp-receiver.ts";
import { stripeRequest } from "../support/signed-webhooks.ts";
import { waitFor } from "../support/wait.ts";

const apiKey = "api-key-query-Vb8Lq2Xe";
const collectorToken = "collector-token-Hq3Zp7Rm";

describe("one trace from a webhook received by one process to the outbound calls of another (PostgreSQL)", () => {
  const t = useTestStorage(postgresBackend);
  let receiver: OtlpReceiver;
  let api: ApiTestServer;
  let processes: WorkerProcess[];

  beforeEach(async () => {
    receiver = new OtlpReceiver();
    api = new ApiTestServer();
    await Promise.all([receiver.start(), api.start(), t.storage.migrate()]);
    processes = [];
  });
  afterEach(async () => {
    for (const process of processes) await process.kill9();
    await Promise.all([receiver.close(), api.close()]);
  });

  function start(role: "ingest" | "worker"): WorkerProcess {
    const child = spawnFixture("traced-process.ts", {
      ...t.db.env,
      ROLE: role,
      API_ORIGIN: api.origin,
      API_KEY: apiKey,
      TENON_MASTER_KEY: randomBytes(32).toString("base64"),
      TENON_HTTP_PORT: "0",
      // The standard variables: Tenon reads the endpoint and the service name, the exporter the rest.
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.origin,
      OTEL_EXPORTER_OTLP_HEADERS: `x-collector-token=${collectorToken}`,
      OTEL_SERVICE_NAME: `tenon-${role}`,
      OTEL_BSP_SCHEDULE_DELAY: "100",
    });
    processes.push(child);
    return child;
  }

  it("SERVER span (ingest process) → tenon.run and tenon.step spans (worker process) → CLIENT spans, and the API receives the trace's traceparent", async () => {
    const ingest = start("ingest");
    const worker = start("worker");
    const url = (await ingest.waitForLine("LISTENING ")).slice("LISTENING ".length);
    await worker.waitForLine("READY");

    const webhook = stripeRequest("evt_across");
    const response = await fetch(`${url}/hooks/stripe`, {
      method: "POST",
      headers: webhook.headers,
      body: webhook.body,
    });
    expect(response.status).toBe(200);
    const { id: eventId } = (await response.json()) as { id: string };
    const [run] = await t.storage.listRuns({ eventId });
    const runId = run?.id as string;
    await waitForRunStatus(t.storage, runId, "succeeded");
    const spans = await waitFor("the spans of both processes", async () => {
      const ready =
        receiver.spans.some((s) => s.name === "tenon.run") && receiver.spans.some((s) => s.kind === otlpKind.server);
      return ready && receiver.spans.filter((s) => s.kind === otlpKind.client).length === 2 ? receiver.spans : null;
    });

    const [server] = spans.filter((s) => s.kind === otlpKind.server);
    expect(server).toMatchObject({
      service: "tenon-ingest",
      name: "POST /hooks/:source",
      parentSpanId: undefined,
      attributes: {
        [ATTR_HTTP_REQUEST_METHOD]: "POST",
        [ATTR_HTTP_ROUTE]: "/hooks/:source",
        [ATTR_URL_PATH]: "/hooks/stripe",
        [ATTR_HTTP_RESPONSE_STATUS_CODE]: 200,
      },
    });
    const traceId = server?.traceId;
    expect(spans.every((s) => s.traceId === traceId)).toBe(true);

    const [runSpan, ...otherRuns] = spans.filter((s) => s.name === "tenon.run");
    expect(otherRuns).toEqual([]);
    expect(runSpan).toMatchObject({
      service: "tenon-worker",
      parentSpanId: server?.spanId,
      attributes: { "tenon.run.id": runId, "tenon.integration": "record-payment", "tenon.event.id": eventId },
    });
    const steps = spans
      .filter((s) => s.name === "tenon.step")
      .sort((a, b) => String(a.attributes["tenon.step.name"]).localeCompare(String(b.attributes["tenon.step.name"])));
    expect(steps.map((s) => [s.attributes["tenon.step.name"], s.parentSpanId, s.service])).toEqual([
      ["lookup", runSpan?.spanId, "tenon-worker"],
      ["post", runSpan?.spanId, "tenon-worker"],
    ]);

    const clients = spans.filter((s) => s.kind === otlpKind.client);
    const clientOf = (step: string) => clients.find((c) => c.attributes["tenon.step.name"] === step) as ReceivedSpan;
    const lookup = clientOf("lookup");
    const post = clientOf("post");
    expect(lookup.parentSpanId).toBe(steps[0]?.spanId);
    expect(post.parentSpanId).toBe(steps[1]?.spanId);
    expect(lookup).toMatchObject({
      name: "GET /payments/{id}",
      attributes: {
        [ATTR_HTTP_REQUEST_METHOD]: "GET",
        [ATTR_URL_TEMPLATE]: "/payments/{id}",
        [ATTR_SERVER_ADDRESS]: "127.0.0.1",
        [ATTR_SERVER_PORT]: Number(new URL(api.origin).port),
        [ATTR_HTTP_RESPONSE_STATUS_CODE]: 200,
        "tenon.run.id": runId,
        "tenon.integration": "record-payment",
      },
    });
    expect(lookup.attributes[ATTR_URL_FULL]).toMatch(new RegExp(`^${api.origin}/payments/pi_evt_across`));
    expect(post.attributes).toMatchObject({
      [ATTR_HTTP_REQUEST_METHOD]: "POST",
      [ATTR_HTTP_RESPONSE_STATUS_CODE]: 200,
    });

    // The API got the key, and the trace: each request named its own CLIENT span as parent.
    expect(api.requests.map((r) => [r.path, r.query.get("api_key"), r.headers.traceparent])).toEqual([
      ["/payments/pi_evt_across", apiKey, `00-${traceId}-${lookup.spanId}-01`],
      ["/ledger", apiKey, `00-${traceId}-${post.spanId}-01`],
    ]);
    // No span, attribute or resource of either process shows the key; the exporter sent the collector's header.
    expect(JSON.stringify(spans)).not.toContain(apiKey);
    expect(receiver.exportHeaders.every((headers) => headers["x-collector-token"] === collectorToken)).toBe(true);
  });
});
