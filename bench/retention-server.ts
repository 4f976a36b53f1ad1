/**
 * The server under test for `bench/retention.ts`, in its own process: Tenon (worker on, as `tenon start` runs it)
 * accepting Stripe-style webhooks, and a retention pruner that makes one pass when the process gets SIGUSR2.
 *
 *   node --import tsx bench/retention-server.ts sqlite|postgres
 *
 * Prints JSON lines on stdout: `{"url":…}` once it listens; `{"pruneStarted":<epoch ms>}`, then `{"batch":<rows>}`
 * per batch and `{"pruneDone":<epoch ms>,"total":<rows>}` for the pass. Logs go to stderr. Stops on SIGTERM.
 *
 * Environment (set by bench/retention.ts):
 *   BENCH_RETENTION_SECRET        the Stripe endpoint secret
 *   BENCH_RETENTION_SQLITE_PATH   sqlite: the database file (synchronous FULL)
 *   BENCH_RETENTION_DATABASE_URL  postgres: the URL
 *   BENCH_RETENTION_PG_SCHEMA     postgres: the schema
 *   BENCH_RETENTION_BATCH         runs per batch (default: the engine's for the backend, 250 SQLite, 1000 PostgreSQL)
 *   BENCH_RETENTION_PAUSE_MS      pause between batches (default 100)
 */
import pino from "pino";
import { pruneBatchSize, RetentionPruner } from "../src/engine/retention-pruner.ts";
import { createEngine, defineIntegration, openStorage, type Storage } from "../src/index.ts";
import { resolveWebhookSources } from "../src/ingestion/webhooks/webhook-sources.ts";
import { systemClock } from "../src/runtime/clock.ts";
import { createServer } from "../src/server/create-server.ts";
import { intEnv } from "./bench-env.ts";

function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`bench/retention-server.ts: ${name} is not set`);
  return value;
}

function print(line: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

const mode = process.argv[2];
if (mode !== "sqlite" && mode !== "postgres") throw new Error(`mode must be sqlite or postgres, got "${mode ?? ""}"`);
const storage: Storage =
  mode === "sqlite"
    ? await openStorage({ sqlitePath: requireEnv("BENCH_RETENTION_SQLITE_PATH"), sqliteSynchronous: "FULL" })
    : await openStorage({
        databaseUrl: requireEnv("BENCH_RETENTION_DATABASE_URL"),
        postgresSchema: requireEnv("BENCH_RETENTION_PG_SCHEMA"),
      });
const logger = pino({ level: "warn" }, pino.destination(2));
const engine = createEngine({
  storage,
  integrations: [
    defineIntegration({
      id: "bench-retention",
      trigger: { event: "payment_intent.succeeded", source: "stripe" },
      run: async ({ step }) => {
        await step.run("noop", () => null);
      },
    }),
  ],
  worker: {},
  // The pass is started by the signal below, not by the engine's timer, so the bench knows when it runs.
  retention: false,
  logger,
});
const pruner = new RetentionPruner(storage.retention, systemClock, logger, {
  // As the engine sets it for this backend unless BENCH_RETENTION_BATCH says otherwise.
  batchSize: process.env.BENCH_RETENTION_BATCH
    ? intEnv("BENCH_RETENTION_BATCH", 1000)
    : pruneBatchSize(storage.dialect),
  pauseMs: intEnv("BENCH_RETENTION_PAUSE_MS", 100),
  onPruned: (rows) => print({ batch: rows }),
});
const server = createServer({
  engine,
  logger,
  webhookSources: resolveWebhookSources({
    stripe: { provider: "stripe", secrets: [requireEnv("BENCH_RETENTION_SECRET")] },
  }),
});
await engine.start();
print({ url: await server.listen({ host: "127.0.0.1", port: 0 }) });

process.on("SIGUSR2", () => {
  print({ pruneStarted: Date.now() });
  void pruner.prune().then((total) => print({ pruneDone: Date.now(), total }));
});
await new Promise<void>((resolve) => {
  process.once("SIGTERM", () => resolve());
  process.once("SIGINT", () => resolve());
});
await pruner.stop();
await server.close();
await engine.stop({ deadlineMs: 10_000 });
await storage.close();
process.exit(0);
