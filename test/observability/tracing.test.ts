import { randomBytes } from "node:crypto";
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import { InMemorySpanExporter, type ReadableSpan } from "@opentelemetry/sdk-trace-node";
import {
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_REQUEST_RESEND_COUNT,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_URL_FULL,
  ATTR_URL_PATH,
} from "@opentelemetry/semantic-conventions";
import { ATTR_URL_TEMPLATE } from "@opentelemetry/semantic-conventions/incubating";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { logContext } from "../../src/observability/logger.ts";
import { startTracingSdk, type TracingSdk } from "../../src/observability/tracing-sdk.ts";
import { defineIntegration } from "../../src/sdk/define-integration.ts";
import { ApiTestServer } from "../support/api-server.ts";
import { backends, useTestStorage } from "../support/backends.ts";
import { testConnections } from "../support/connections.ts";
import { testEngine, waitForRunStatus } from "../support/engine.ts";
import { startTestServer } from "../support/server.ts";
import { secrets, stripeRequest } from "../support/signed-webhooks.ts";
import { waitFor } from "../support/wait.ts";

const apiKey = "api-key-query-T9pQ4wZr";

describe.each(backends)("one trace from webhook to the last outbound call, in one process ($name)", (backend) => {
  const t = useTestStorage(backend);
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it("the run and step spans continue the webhook's SERVER span, and every outbound request is a CLIENT span that sends its traceparent", async () => {
    const exporter = new InMemorySpanExporter();
    const sdk: TracingSdk = startTracingSdk({ endpoint: "http://127.0.0.1:1", serviceName: "tenon-test" }, exporter);
    cleanups.push(() => sdk.shutdown());
    const api = new ApiTestServer();
    await api.start();
    cleanups.push(() => api.close());
    // The payment API fails the first POST: the run retries, and the step's second attempt sends it again.
    let posts = 0;
    api.respond = (request) => {
      if (request.method === "POST") posts += 1;
      return request.method === "POST" && posts === 1 ? { status: 503, body: { error: "busy" } } : { status: 200 };
    };
    const lines: Record<string, unknown>[] = [];
    const logger = pino(
      { level: "info", mixin: logContext },
      { write: (line: string) => lines.push(JSON.parse(line)) },
    );
    const recordPayment = defineIntegration<{ data: { object: { id: string } } }>({
      id: "record-payment",
      trigger: { event: "payment_intent.succeeded", source: "stripe" },
      retries: { maxAttempts: 3, initialDelay: 10, maxDelay: 10 },
      async run({ event, step, connection }) {
        const id = event.payload.data.object.id;
        await step.run("lookup", async () => {
          return (await connection("api").get(`/payments/${id}`, { urlTemplate: "/payments/{id}" })).status;
        });
        await step.run("post", async () => {
          logger.info("posting the payment");
          return (await connection("api").post("/ledger", { json: { id } })).status;
        });
      },
    });
    const connections = testConnections(t.storage, {
      api: {
        baseUrl: api.origin,
        auth: { type: "apiKey", in: "query", name: "api_key" },
        credentials: { apiKey },
      },
    });
    const engine = testEngine({ storage: t.storage, integrations: [recordPayment], connections, logger });
    await engine.start();
    cleanups.push(() => engine.stop({ deadlineMs: 1000 }));
    const server = await startTestServer(engine, {
      sources: { stripe: { provider: "stripe", secrets: [secrets.stripe] } },
    });
    cleanups.push(() => server.server.close());

    // The provider's own trace: Tenon's SERVER span is its child.
    const upstreamTrace = randomBytes(16).toString("hex");
    const upstreamSpan = randomBytes(8).toString("hex");
    const webhook = stripeRequest("evt_traced");
    const answer = await server.post("/hooks/stripe", {
      headers: { ...webhook.headers, traceparent: `00-${upstreamTrace}-${upstreamSpan}-01` },
      body: webhook.body,
    });
    expect(answer.status).toBe(200);
    const runs = await t.storage.listRuns({ eventId: answer.json.id });
    expect(runs).toHaveLength(1);
    const runId = runs[0]?.id as string;
    await waitForRunStatus(t.storage, runId, "succeeded");
    // The run's span ends just after its outcome is committed.
    const spans = await waitFor("both executions' spans", async () => {
      await sdk.flush();
      const finished = exporter.getFinishedSpans();
      return named(finished, "tenon.run").length === 2 ? finished : null;
    });

    expect(new Set(spans.map((s) => s.spanContext().traceId))).toEqual(new Set([upstreamTrace]));
    const [serverSpan] = named(spans, "POST /hooks/:source");
    expect(serverSpan?.kind).toBe(SpanKind.SERVER);
    expect(serverSpan?.parentSpanContext?.spanId).toBe(upstreamSpan);
    expect(serverSpan?.attributes).toMatchObject({
      [ATTR_HTTP_REQUEST_METHOD]: "POST",
      [ATTR_HTTP_ROUTE]: "/hooks/:source",
      [ATTR_URL_PATH]: "/hooks/stripe",
      [ATTR_HTTP_RESPONSE_STATUS_CODE]: 200,
    });

    // Two executions of the run (the first failed in "post"), each a child of the request.
    const runSpans = named(spans, "tenon.run");
    expect(runSpans).toHaveLength(2);
    for (const span of runSpans) {
      expect(span.parentSpanContext?.spanId).toBe(serverSpan?.spanContext().spanId);
      expect(span.attributes).toMatchObject({ "tenon.run.id": runId, "tenon.integration": "record-payment" });
    }
    const [firstRun, secondRun] = byStart(runSpans);
    expect(firstRun?.status.code).toBe(SpanStatusCode.ERROR);
    expect(secondRun?.status.code).not.toBe(SpanStatusCode.ERROR);

    // "lookup" ran once (the retry took it from the journal); "post" twice, its first attempt failed.
    const steps = byStart(named(spans, "tenon.step"));
    expect(steps.map((s) => [s.attributes["tenon.step.name"], s.attributes["tenon.step.attempt"]])).toEqual([
      ["lookup", 1],
      ["post", 1],
      ["post", 2],
    ]);
    expect(steps.map((s) => s.parentSpanContext?.spanId)).toEqual(
      [firstRun, firstRun, secondRun].map((r) => r?.spanContext().spanId),
    );
    expect(steps.map((s) => s.status.code === SpanStatusCode.ERROR)).toEqual([false, true, false]);

    // One CLIENT span per request on the wire, a child of its step, with the semantic conventions' attributes.
    const clients = byStart(spans.filter((s) => s.kind === SpanKind.CLIENT));
    expect(clients.map((s) => s.name)).toEqual(["GET /payments/{id}", "POST", "POST"]);
    expect(clients.map((s) => s.parentSpanContext?.spanId)).toEqual(steps.map((s) => s.spanContext().spanId));
    const port = Number(new URL(api.origin).port);
    expect(clients[0]?.attributes).toEqual({
      [ATTR_HTTP_REQUEST_METHOD]: "GET",
      [ATTR_URL_FULL]: expect.stringMatching(new RegExp(`^${api.origin}/payments/pi_evt_traced`)),
      [ATTR_URL_TEMPLATE]: "/payments/{id}",
      [ATTR_SERVER_ADDRESS]: "127.0.0.1",
      [ATTR_SERVER_PORT]: port,
      [ATTR_HTTP_RESPONSE_STATUS_CODE]: 200,
      "tenon.connection": "api",
      "tenon.run.id": runId,
      "tenon.step.name": "lookup",
      "tenon.integration": "record-payment",
    });
    expect(clients[1]?.attributes).toMatchObject({ [ATTR_HTTP_RESPONSE_STATUS_CODE]: 503, [ATTR_ERROR_TYPE]: "503" });
    expect(clients[1]?.attributes[ATTR_HTTP_REQUEST_RESEND_COUNT]).toBeUndefined();
    expect(clients[2]?.attributes).toMatchObject({
      [ATTR_HTTP_REQUEST_METHOD]: "POST",
      [ATTR_HTTP_RESPONSE_STATUS_CODE]: 200,
      [ATTR_HTTP_REQUEST_RESEND_COUNT]: 1,
      "tenon.step.name": "post",
    });
    // The key went out in the query string, but no span says it.
    expect(JSON.stringify(spans.map((s) => [s.name, s.attributes, s.status]))).not.toContain(apiKey);
    expect(api.requests.every((r) => r.query.get("api_key") === apiKey)).toBe(true);

    // Each request carried its own CLIENT span as parent.
    expect(api.requests.map((r) => r.headers.traceparent)).toEqual(
      clients.map((s) => `00-${upstreamTrace}-${s.spanContext().spanId}-01`),
    );

    // Log lines written inside a step carry the run, the step and the step's span; the run's own lines its span.
    const inStep = lines.filter((line) => line.msg === "posting the payment");
    expect(inStep.map((line) => [line.run_id, line.step, line.trace_id, line.span_id])).toEqual(
      steps.slice(1).map((s) => [runId, "post", upstreamTrace, s.spanContext().spanId]),
    );
    const failure = lines.find((line) => line.msg === 'step "post" failed');
    expect(failure).toMatchObject({ run_id: runId, trace_id: upstreamTrace, span_id: firstRun?.spanContext().spanId });
    expect(failure?.step).toBeUndefined();
  });

  it("without an SDK nothing is traced: no traceparent goes out and logs carry only the run and step", async () => {
    const api = new ApiTestServer();
    await api.start();
    cleanups.push(() => api.close());
    const lines: Record<string, unknown>[] = [];
    const logger = pino(
      { level: "info", mixin: logContext },
      { write: (line: string) => lines.push(JSON.parse(line)) },
    );
    const call = defineIntegration({
      id: "call",
      trigger: { event: "call" },
      run: ({ step, connection }) =>
        step.run("call", async () => {
          logger.info("calling");
          return (await connection("api").get("/ping")).status;
        }),
    });
    const connections = testConnections(t.storage, { api: { baseUrl: api.origin } });
    const engine = testEngine({ storage: t.storage, integrations: [call], connections, logger });
    await engine.start();
    cleanups.push(() => engine.stop({ deadlineMs: 1000 }));
    const server = await startTestServer(engine, { apiTokens: ["token"] });
    cleanups.push(() => server.server.close());
    const traceparent = `00-${randomBytes(16).toString("hex")}-${randomBytes(8).toString("hex")}-01`;

    const answer = await server.post("/api/events", {
      headers: { authorization: "Bearer token", "content-type": "application/json", traceparent },
      body: JSON.stringify({ type: "call", payload: {} }),
    });
    expect(answer.status).toBe(202);
    const [run] = await t.storage.listRuns({ eventId: answer.json.id });
    await waitForRunStatus(t.storage, run?.id as string, "succeeded");

    expect(api.requests).toHaveLength(1);
    expect(api.requests[0]?.headers.traceparent).toBeUndefined();
    const line = lines.find((l) => l.msg === "calling");
    expect(line).toMatchObject({ run_id: run?.id, step: "call" });
    expect(line?.trace_id).toBeUndefined();
  });
});

function named(spans: ReadableSpan[], name: string): ReadableSpan[] {
  return spans.filter((span) => span.name === name);
}

function byStart(spans: ReadableSpan[]): ReadableSpan[] {
  return [...spans].sort((a, b) => hrtimeNs(a.startTime) - hrtimeNs(b.startTime));
}

function hrtimeNs([seconds, nanos]: [number, number]): number {
  return seconds * 1e9 + nanos;
}
