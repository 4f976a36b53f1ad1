/**
 * One server under test for `bench/e2e.ts`, in its own process: it takes signed Stripe-style webhooks and makes, for
 * each, 3 sequential POSTs to the counting sink (bench/e2e-sink.ts).
 *
 *   node --import tsx bench/e2e-server.ts bare|sqlite|postgres
 *
 *   bare      the floor: a node:http forwarder that reads the body, answers 200, then makes the 3 POSTs with
 *             undici (at most 100 to the sink at a time, as many as Tenon's worker runs), storing nothing and
 *             verifying nothing
 *   sqlite    Tenon as `tenon start` wires it (createEngine + createServer, the connections with the audit trail
 *             on, the drift learner, metrics on and scraped every 5 s, the worker with its defaults), on SQLite
 *             with synchronous FULL: an integration of 3 `step.run`s, each a POST through the connection "sink"
 *   postgres  the same on PostgreSQL
 *
 * Each POST carries the same headers either way: a bearer token, the idempotency key (Tenon's connection client
 * derives it from the step's; the bare forwarder makes `<event id>:<step>`), and `x-bench-event: <event id>`, by
 * which the sink counts the deliveries of each event. The body is the event's payment intent with the step's name.
 *
 * Prints `{"url":"http://127.0.0.1:<port>"}` on stdout once it listens (logs go to stderr). On SIGTERM it stops
 * the way `tenon start` does (server, then engine, then storage) and exits 0, first printing
 * `{"exit":{"eventLoopDelayMs":{p50,p99,max},"forwardErrors":n}}`: how late its event loop ran over its life (what an
 * answer waits for when the loop is busy), and for the bare forwarder the forwards it lost (Tenon's failures are in its
 * database: runs not succeeded).
 *
 * Environment (set by bench/e2e.ts):
 *   BENCH_E2E_SECRET        the Stripe endpoint secret (whsec_…)
 *   BENCH_E2E_SINK_URL      the sink's base URL
 *   BENCH_E2E_SINK_TOKEN    the bearer token sent to the sink
 *   BENCH_E2E_SQLITE_PATH   sqlite: the database file
 *   BENCH_E2E_DATABASE_URL  postgres: the URL
 *   BENCH_E2E_PG_SCHEMA     postgres: the schema (created by migrate, dropped by the caller)
 *   BENCH_TRACE             1: time every storage call (bench/storage-trace.ts) and print the totals as one JSON line
 *                           on stdout at exit, after the exit line (Tenon only)
 *   BENCH_HEAP_PROF         a directory: every allocation of the server's life is sampled (bench/heap-sampling.ts) and
 *                           written there at exit as <mode>.heapprofile
 *   BENCH_E2E_CONCURRENCY   runs in progress at once: Tenon's worker concurrency, and the bare forwarder's connections
 *                           to the sink (default: the worker's default)
 */
import { randomBytes } from "node:crypto";
import { createServer as createHttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { type IntervalHistogram, monitorEventLoopDelay } from "node:perf_hooks";
import pino from "pino";
import { Agent, request } from "undici";
import { defaultLeaseMs, defaultMaxCrashes, defaultWorkerConcurrency } from "../src/config/settings.ts";
import { Connections } from "../src/connections/connections.ts";
import { openVault } from "../src/connections/vault/open-vault.ts";
import { DriftLearner } from "../src/drift/drift-learner.ts";
import { createEngine, defineIntegration, openStorage, type Storage } from "../src/index.ts";
import { resolveWebhookSources } from "../src/ingestion/webhooks/webhook-sources.ts";
import { createMetrics } from "../src/observability/metrics.ts";
import { systemClock } from "../src/runtime/clock.ts";
import { createServer } from "../src/server/create-server.ts";
import { e2eSteps } from "./e2e-run-anatomy.ts";
import { sampleAllocations } from "./heap-sampling.ts";
import { type CallStats, traced } from "./storage-trace.ts";

type Mode = "bare" | "sqlite" | "postgres";

/** The slice of a Stripe event that is forwarded. */
interface StripeEvent {
  id: string;
  data: { object: Record<string, unknown> };
}

/** The integration's steps, in order: each is one POST to the sink. */
const steps = e2eSteps;

/** Runs in progress at once, for both: Tenon's worker concurrency and the bare forwarder's connections to the sink. */
const concurrency = Number.parseInt(process.env.BENCH_E2E_CONCURRENCY ?? String(defaultWorkerConcurrency), 10);

function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`bench/e2e-server.ts: ${name} is not set`);
  return value;
}

function parseMode(raw: string | undefined): Mode {
  if (raw === "bare" || raw === "sqlite" || raw === "postgres") return raw;
  throw new Error(`bench/e2e-server.ts: mode must be bare, sqlite or postgres, got "${raw ?? ""}"`);
}

/** Resolves on the first SIGTERM or SIGINT. */
function shutdownSignal(): Promise<void> {
  return new Promise((resolve) => {
    process.once("SIGTERM", () => resolve());
    process.once("SIGINT", () => resolve());
  });
}

function announce(line: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

/** How often the event loop's delay is sampled. */
const loopResolutionMs = 10;

/** The event loop's delays, sampled every 10 ms from now on. */
function watchEventLoop(): IntervalHistogram {
  const histogram = monitorEventLoopDelay({ resolution: loopResolutionMs });
  histogram.enable();
  return histogram;
}

function eventLoopDelayMs(histogram: IntervalHistogram): { p50: number; p99: number; max: number } {
  histogram.disable();
  // The histogram holds the time between samples: the delay is what exceeds the sampling interval.
  const ms = (ns: number) => Math.max(0, ns / 1e6 - loopResolutionMs);
  return { p50: ms(histogram.percentile(50)), p99: ms(histogram.percentile(99)), max: ms(histogram.max) };
}

/** What one step POSTs: the same object from the bare forwarder and from Tenon. */
function stepBody(step: string, event: StripeEvent): Record<string, unknown> {
  return { step, event: event.id, payment_intent: event.data.object };
}

/** The floor: acknowledge, then forward; nothing is stored, so a crash loses whatever is in flight. */
async function runBare(sinkUrl: string, token: string): Promise<void> {
  // Tenon's worker has at most `concurrency` runs in progress, so at most as many requests to the sink: the same bound.
  const agent = new Agent({ connections: concurrency, keepAliveTimeout: 30_000 });
  const target = `${sinkUrl}/orders`;
  let forwardErrors = 0;
  const forward = async (event: StripeEvent) => {
    for (const [index, step] of steps.entries()) {
      const answer = await request(target, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          authorization: `Bearer ${token}`,
          "idempotency-key": `${event.id}:${index + 1}`,
          "x-bench-event": event.id,
        },
        body: JSON.stringify(stepBody(step, event)),
        dispatcher: agent,
      });
      await answer.body.json();
      if (answer.statusCode !== 200) throw new Error(`the sink answered ${answer.statusCode}`);
    }
  };
  const server = createHttpServer((incoming, response) => {
    const chunks: Buffer[] = [];
    incoming.on("data", (chunk: Buffer) => chunks.push(chunk));
    incoming.on("end", () => {
      let event: StripeEvent;
      try {
        event = JSON.parse(Buffer.concat(chunks).toString("utf8")) as StripeEvent;
      } catch {
        response.writeHead(400, { "content-type": "application/json" });
        response.end('{"error":"the body is not JSON"}');
        return;
      }
      response.writeHead(200, { "content-type": "application/json" });
      response.end('{"ok":true}');
      forward(event).catch((error: unknown) => {
        if (forwardErrors++ === 0) process.stderr.write(`  bare forwarder: a forward failed: ${String(error)}\n`);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const loop = watchEventLoop();
  announce({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
  await shutdownSignal();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await agent.close();
  announce({ exit: { eventLoopDelayMs: eventLoopDelayMs(loop), forwardErrors } });
}

function openBenchStorage(mode: "sqlite" | "postgres"): Promise<Storage> {
  if (mode === "sqlite") {
    return openStorage({ sqlitePath: requireEnv("BENCH_E2E_SQLITE_PATH"), sqliteSynchronous: "FULL" });
  }
  return openStorage({
    databaseUrl: requireEnv("BENCH_E2E_DATABASE_URL"),
    postgresSchema: requireEnv("BENCH_E2E_PG_SCHEMA"),
  });
}

/** Tenon, wired as src/app/tenon-services.ts wires `tenon start` (without alerting, polls or a second metrics port). */
async function runTenon(mode: "sqlite" | "postgres", sinkUrl: string, token: string): Promise<void> {
  const stats = new Map<string, CallStats>();
  const rawStorage = await openBenchStorage(mode);
  const storage = process.env.BENCH_TRACE === "1" ? traced(rawStorage, stats) : rawStorage;
  // Warnings and errors only, on stderr: stdout carries the URL.
  const logger = pino({ level: "warn" }, pino.destination(2));
  const metrics = createMetrics({ enabled: true, processMetrics: true });
  // As under Prometheus: the registry is collected every 5 s.
  const scrapes = setInterval(() => void metrics.registry.metrics().catch(() => {}), 5000);
  const drift = new DriftLearner({ store: storage.drift, clock: systemClock, logger });
  const connections = new Connections({
    metrics,
    storage,
    vault: openVault({ env: { TENON_MASTER_KEY: randomBytes(32).toString("base64") } }),
    configs: { sink: { baseUrl: sinkUrl, auth: { type: "bearer" }, credentials: { token } } },
    logger,
    observeResponse: drift.observeResponse,
  });
  const integration = defineIntegration({
    id: "bench-e2e",
    trigger: { event: "payment_intent.succeeded", source: "stripe" },
    run: async ({ event, step, connection }) => {
      const stripeEvent = event.payload as StripeEvent;
      for (const name of steps) {
        await step.run(name, async () => {
          const response = await connection("sink").post<{ id: string }>("/orders", {
            json: stepBody(name, stripeEvent),
            headers: { "x-bench-event": stripeEvent.id },
          });
          return response.body.id;
        });
      }
    },
  });
  const engine = createEngine({
    storage,
    metrics,
    integrations: [integration],
    connections,
    worker: { concurrency, leaseMs: defaultLeaseMs, maxCrashes: defaultMaxCrashes },
    logger,
  });
  const server = createServer({
    engine,
    logger,
    connections,
    integrations: [integration],
    observeEvent: drift.observeEvent,
    webhookSources: resolveWebhookSources({
      stripe: { provider: "stripe", secrets: [requireEnv("BENCH_E2E_SECRET")] },
    }),
  });
  await engine.start();
  // After the engine's start, which applies the migrations the drift tables come with.
  await drift.start();
  const loop = watchEventLoop();
  announce({ url: await server.listen({ host: "127.0.0.1", port: 0 }) });

  await shutdownSignal();
  clearInterval(scrapes);
  await server.close();
  // Stops the worker (runs in flight finish within the deadline), then the connections (the audit trail flushed).
  await engine.stop({ deadlineMs: 10_000 });
  await drift.stop();
  await storage.close();
  announce({ exit: { eventLoopDelayMs: eventLoopDelayMs(loop) } });
  if (stats.size > 0) announce({ trace: Object.fromEntries(stats) });
}

const mode = parseMode(process.argv[2]);
const sinkUrl = requireEnv("BENCH_E2E_SINK_URL");
const token = requireEnv("BENCH_E2E_SINK_TOKEN");
const heapProfDir = process.env.BENCH_HEAP_PROF;
const allocations = heapProfDir ? await sampleAllocations() : undefined;
if (mode === "bare") await runBare(sinkUrl, token);
else await runTenon(mode, sinkUrl, token);
if (allocations && heapProfDir) await allocations.stop(join(heapProfDir, `${mode}.heapprofile`));
process.exit(0);
