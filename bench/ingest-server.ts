/**
 * One server under test for `bench/ingest.ts`, in its own process so the load generator never shares its event loop.
 *
 *   node --import tsx bench/ingest-server.ts bare|sqlite|postgres
 *
 * Prints `{"url":"http://127.0.0.1:<port>"}` on stdout once it listens (logs go to stderr), and on SIGTERM stops
 * the way `tenon start` does (server, then engine, then storage) and exits 0.
 *
 * Environment (set by bench/ingest.ts):
 *   BENCH_INGEST_SECRET        the Stripe endpoint secret (whsec_…)
 *   BENCH_INGEST_WORKER        "off": engine with `worker: false` (accepts only); default on, as `tenon start` runs
 *   BENCH_INGEST_SQLITE_PATH   sqlite: the database file (synchronous FULL)
 *   BENCH_INGEST_DATABASE_URL  postgres: the URL
 *   BENCH_INGEST_PG_SCHEMA     postgres: the schema (created by migrate, dropped by the caller)
 *   BENCH_INGEST_METRICS       "off": the instrumentation off (TENON_METRICS=off); default on, with process metrics
 *                              and a scrape every 5 s, as `tenon start` under Prometheus
 *   BENCH_TRACE                1: time every storage call and print a summary JSON line on stdout at exit
 */
import { createServer as createHttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import pino from "pino";
import { createEngine, defineIntegration, openStorage, type Storage } from "../src/index.ts";
import { resolveWebhookSources } from "../src/ingestion/webhooks/webhook-sources.ts";
import { createMetrics } from "../src/observability/metrics.ts";
import { createServer } from "../src/server/create-server.ts";
import { type CallStats, traced } from "./storage-trace.ts";

type Mode = "bare" | "sqlite" | "postgres";

function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`bench/ingest-server.ts: ${name} is not set`);
  return value;
}

function parseMode(raw: string | undefined): Mode {
  if (raw === "bare" || raw === "sqlite" || raw === "postgres") return raw;
  throw new Error(`bench/ingest-server.ts: mode must be bare, sqlite or postgres, got "${raw ?? ""}"`);
}

/** Resolves on the first SIGTERM or SIGINT. */
function shutdownSignal(): Promise<void> {
  return new Promise((resolve) => {
    process.once("SIGTERM", () => resolve());
    process.once("SIGINT", () => resolve());
  });
}

function announce(url: string): void {
  process.stdout.write(`${JSON.stringify({ url })}\n`);
}

/** The floor: node:http reading the whole body and answering, with no verification and no storage. */
async function runBare(): Promise<void> {
  const server = createHttpServer((request, response) => {
    request.on("data", () => {});
    request.on("end", () => {
      response.writeHead(200, { "content-type": "application/json" });
      response.end('{"ok":true}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  announce(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  await shutdownSignal();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

function openBenchStorage(mode: "sqlite" | "postgres"): Promise<Storage> {
  if (mode === "sqlite") {
    return openStorage({ sqlitePath: requireEnv("BENCH_INGEST_SQLITE_PATH"), sqliteSynchronous: "FULL" });
  }
  return openStorage({
    databaseUrl: requireEnv("BENCH_INGEST_DATABASE_URL"),
    postgresSchema: requireEnv("BENCH_INGEST_PG_SCHEMA"),
  });
}

async function runTenon(mode: "sqlite" | "postgres"): Promise<void> {
  const stats = new Map<string, CallStats>();
  const rawStorage = await openBenchStorage(mode);
  const storage = process.env.BENCH_TRACE === "1" ? traced(rawStorage, stats) : rawStorage;
  // Warnings and errors only, on stderr: stdout carries the URL and the trace.
  const logger = pino({ level: "warn" }, pino.destination(2));
  const integration = defineIntegration({
    id: "bench-ingest",
    trigger: { event: "payment_intent.succeeded", source: "stripe" },
    run: async ({ step }) => {
      await step.run("noop", () => null);
    },
  });
  const metrics = createMetrics({ enabled: process.env.BENCH_INGEST_METRICS !== "off", processMetrics: true });
  const scrapes = setInterval(() => void metrics.registry.metrics().catch(() => {}), 5000);
  const engine = createEngine({
    storage,
    metrics,
    integrations: [integration],
    // The defaults `tenon start` uses (concurrency 100); "off" makes an accept-only process.
    worker: process.env.BENCH_INGEST_WORKER === "off" ? false : {},
    logger,
  });
  const server = createServer({
    engine,
    logger,
    webhookSources: resolveWebhookSources({
      stripe: { provider: "stripe", secrets: [requireEnv("BENCH_INGEST_SECRET")] },
    }),
  });
  await engine.start();
  const url = await server.listen({ host: "127.0.0.1", port: 0 });
  announce(url);

  await shutdownSignal();
  clearInterval(scrapes);
  await server.close();
  await engine.stop({ deadlineMs: 10_000 });
  await storage.close();
  if (stats.size > 0) {
    process.stdout.write(`${JSON.stringify({ trace: Object.fromEntries(stats) })}\n`);
  }
}

const mode = parseMode(process.argv[2]);
if (mode === "bare") await runBare();
else await runTenon(mode);
process.exit(0);
