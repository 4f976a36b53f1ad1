/**
 * Read API benchmark: `GET /api/runs` (and a few neighbours) over real HTTP against 1,000,000 runs and their
 * events, on SQLite and on PostgreSQL. Target: each query ≤ 50 ms (median and p95).
 *
 *   npm run bench:api
 *   BENCH_API_ROWS=100000 npm run bench:api     # quick run
 *
 * Knobs (environment):
 *   BENCH_API_ROWS         runs (and events) to fill (default 1000000)
 *   BENCH_API_REPEAT       timed requests per query, after 5 warm-up ones (default 50)
 *   BENCH_ONLY             comma-separated subset of sqlite,postgres (default both)
 *   TENON_BENCH_DATABASE_URL  PostgreSQL URL (default postgres://postgres@127.0.0.1:5432/test)
 *
 * The tables are filled in bulk, not through the engine (that is what bench:engine measures): on PostgreSQL one
 * INSERT … SELECT over generate_series per table, on SQLite one transaction of prepared inserts. 10 integrations,
 * runs created one every 2.6 s over 30 days, 90% succeeded, 5% dead, 3% failed, 2% queued.
 *
 * Writes bench/results/api.json: [{ name, value, unit }].
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import pg from "pg";
import pino from "pino";
import { createEngine, type Storage } from "../src/index.ts";
import { createServer } from "../src/server/create-server.ts";
import { runCursor } from "../src/server/read-api-params.ts";
import { PostgresStorage } from "../src/storage/postgres/postgres-storage.ts";
import { SqliteStorage } from "../src/storage/sqlite/sqlite-storage.ts";
import { intEnv } from "./bench-env.ts";

interface Metric {
  name: string;
  value: number;
  unit: string;
}

const rows = intEnv("BENCH_API_ROWS", 1_000_000);
const repeat = intEnv("BENCH_API_REPEAT", 50);
const only = (process.env.BENCH_ONLY ?? "sqlite,postgres").split(",");
const postgresUrl = process.env.TENON_BENCH_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const resultsFile = join(dirname(fileURLToPath(import.meta.url)), "results", "api.json");
const token = "bench-api-token";
const integrations = 10;
const spanMs = 30 * 24 * 3_600_000;
const end = Date.UTC(2026, 0, 31);
const start = end - spanMs;
const stepMs = Math.floor(spanMs / rows);
const logger = pino({ level: "silent" });

/** The status of run number i (1-based): the same rule in SQL (PostgreSQL) and here (SQLite). */
function statusOf(i: number): string {
  const r = i % 100;
  return r < 2 ? "queued" : r < 5 ? "failed" : r < 10 ? "dead" : "succeeded";
}
const statusSql = `CASE WHEN g % 100 < 2 THEN 'queued' WHEN g % 100 < 5 THEN 'failed' WHEN g % 100 < 10 THEN 'dead' ELSE 'succeeded' END`;

async function fillSqlite(path: string): Promise<void> {
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  const event = db.prepare(
    "INSERT INTO events (id, source, type, dedup_key, payload, status, received_at) VALUES (?, ?, 'order.created', NULL, '{}', 'accepted', ?)",
  );
  const run =
    db.prepare(`INSERT INTO runs (id, integration_id, event_id, status, available_at, failures, created_at, updated_at, started_at, finished_at, last_error)
    VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?)`);
  db.transaction(() => {
    for (let i = 1; i <= rows; i++) {
      const at = start + i * stepMs;
      const status = statusOf(i);
      const ended = status !== "queued";
      const eventId = `e${String(i).padStart(8, "0")}`;
      event.run(eventId, i % 2 === 0 ? "shop" : "crm", at);
      run.run(
        `r${String(i).padStart(8, "0")}`,
        `integration-${i % integrations}`,
        eventId,
        status,
        at,
        at,
        at,
        ended ? at + 5 : null,
        ended ? at + 5 + (i % 400) : null,
        status === "dead" || status === "failed" ? "the API answered 500" : null,
      );
    }
  })();
  db.exec("ANALYZE");
  db.close();
}

async function fillPostgres(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: postgresUrl, options: `-c search_path=${schema}` });
  await client.connect();
  try {
    await client.query(`INSERT INTO events (id, source, type, dedup_key, payload, status, received_at)
      SELECT 'e' || lpad(g::text, 8, '0'), CASE WHEN g % 2 = 0 THEN 'shop' ELSE 'crm' END, 'order.created', NULL, '{}', 'accepted',
        ${start}::bigint + g * ${stepMs}::bigint
      FROM generate_series(1, ${rows}) g`);
    await client.query(`INSERT INTO runs (id, integration_id, event_id, status, available_at, failures, created_at, updated_at, started_at, finished_at, last_error)
      SELECT 'r' || lpad(g::text, 8, '0'), 'integration-' || (g % ${integrations}), 'e' || lpad(g::text, 8, '0'), s.status,
        at, 0, at, at, at,
        CASE WHEN s.status = 'queued' THEN NULL ELSE at + 5 + (g % 400) END,
        CASE WHEN s.status IN ('dead', 'failed') THEN 'the API answered 500' END
      FROM generate_series(1, ${rows}) g
      CROSS JOIN LATERAL (SELECT ${start}::bigint + g * ${stepMs}::bigint AS at, ${statusSql} AS status) s`);
    await client.query("ANALYZE events");
    await client.query("ANALYZE runs");
  } finally {
    await client.end();
  }
}

/** A run's keyset position deep in the table: the cursor of a page 90% of the way down. */
async function deepCursor(storage: Storage): Promise<string> {
  const deep = Math.max(1, Math.floor(rows * 0.1));
  const run = await storage.getRun(`r${String(deep).padStart(8, "0")}`);
  if (!run) throw new Error("the deep run is missing");
  // seq follows insertion order, the same as the run's number.
  return runCursor({ createdAt: run.createdAt, seq: deep });
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

async function measure(backend: "sqlite" | "postgres", storage: Storage, metrics: Metric[]): Promise<void> {
  const engine = createEngine({ storage, integrations: [], worker: false, logger });
  await engine.start();
  const server = createServer({ engine, logger, apiTokens: [token], now: () => end });
  const url = await server.listen({ host: "127.0.0.1", port: 0 });
  const mid = start + spanMs / 2;
  const queries: [string, string][] = [
    ["runs_newest", "/api/runs?limit=50"],
    ["runs_status_dead", "/api/runs?status=dead&limit=50"],
    ["runs_status_queued", "/api/runs?status=queued&limit=50"],
    ["runs_integration", "/api/runs?integration=integration-3&limit=50"],
    ["runs_integration_status", "/api/runs?integration=integration-3&status=failed&limit=50"],
    ["runs_since_until", `/api/runs?since=${iso(mid)}&until=${iso(mid + 86_400_000)}&limit=50`],
    ["runs_status_since_until", `/api/runs?status=dead&since=${iso(mid)}&until=${iso(mid + 86_400_000)}&limit=50`],
    ["runs_deep_cursor", `/api/runs?limit=50&cursor=${await deepCursor(storage)}`],
    [
      "runs_deep_cursor_integration",
      `/api/runs?integration=integration-3&limit=50&cursor=${await deepCursor(storage)}`,
    ],
    ["events_source", "/api/events?source=shop&limit=50"],
    ["events_old_window", `/api/events?since=${iso(start)}&until=${iso(start + 3_600_000)}&limit=50`],
  ];
  try {
    for (const [name, path] of queries) {
      const times: number[] = [];
      for (let i = 0; i < repeat + 5; i++) {
        const began = performance.now();
        const response = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${token}` } });
        const body = (await response.json()) as { runs?: unknown[]; events?: unknown[] };
        const took = performance.now() - began;
        if (response.status !== 200) throw new Error(`${path} answered ${response.status}: ${JSON.stringify(body)}`);
        if ((body.runs ?? body.events ?? []).length === 0) throw new Error(`${path} found nothing: the bench is wrong`);
        if (i >= 5) times.push(took);
      }
      times.sort((a, b) => a - b);
      const median = times[Math.floor(times.length / 2)] ?? 0;
      const p95 = times[Math.min(times.length - 1, Math.ceil(times.length * 0.95) - 1)] ?? 0;
      metrics.push({ name: `${backend}.${name}_p50`, value: round(median), unit: "ms" });
      metrics.push({ name: `${backend}.${name}_p95`, value: round(p95), unit: "ms" });
      console.log(`${backend.padEnd(8)} ${name.padEnd(30)} p50 ${fmt(median)} ms   p95 ${fmt(p95)} ms`);
    }
  } finally {
    await server.close();
    await engine.stop();
  }
}

const round = (n: number) => Math.round(n * 100) / 100;
const fmt = (n: number) => n.toFixed(2).padStart(7);

async function main(): Promise<void> {
  const metrics: Metric[] = [{ name: "rows", value: rows, unit: "runs" }];
  if (only.includes("sqlite")) {
    const dir = mkdtempSync(join(tmpdir(), "tenon-bench-api-"));
    const path = join(dir, "tenon.db");
    try {
      const storage = new SqliteStorage({ path });
      await storage.migrate();
      const began = performance.now();
      await fillSqlite(path);
      const fillS = (performance.now() - began) / 1000;
      metrics.push({ name: "sqlite.fill_time", value: round(fillS), unit: "s" });
      console.log(`sqlite   filled ${rows.toLocaleString("en")} runs and events in ${fillS.toFixed(1)} s`);
      await measure("sqlite", storage, metrics);
      await storage.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  if (only.includes("postgres")) {
    const schema = `bench_api_${process.pid}`;
    const storage = new PostgresStorage({ connectionString: postgresUrl, schema });
    try {
      await storage.migrate();
      const began = performance.now();
      await fillPostgres(schema);
      const fillS = (performance.now() - began) / 1000;
      metrics.push({ name: "postgres.fill_time", value: round(fillS), unit: "s" });
      console.log(`postgres filled ${rows.toLocaleString("en")} runs and events in ${fillS.toFixed(1)} s`);
      await measure("postgres", storage, metrics);
    } finally {
      await storage.dropSchema();
      await storage.close();
    }
  }
  const slow = metrics.filter((m) => m.unit === "ms" && m.value > 50);
  console.log(
    slow.length === 0 ? "Target: every query ≤ 50 ms → MET" : `Target ≤ 50 ms MISSED by: ${slow.map((m) => m.name)}`,
  );
  mkdirSync(dirname(resultsFile), { recursive: true });
  writeFileSync(resultsFile, `${JSON.stringify(metrics, null, 2)}\n`);
  console.log(`wrote ${resultsFile}`);
}

await main();
