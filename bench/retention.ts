/**
 * Retention benchmark: "Retention prunes 100,000 old runs in batches without blocking ingestion". For SQLite and
 * PostgreSQL: 100,000 runs that finished 40 days ago (with their events, journal, history and audit rows) are
 * inserted in bulk SQL; a Tenon server (bench/retention-server.ts, worker on) then takes signed Stripe-style
 * webhooks at a steady rate: without pruning (the baseline, before and after the pass), and while one retention
 * pass (batches as the engine sizes them, 100 ms apart) deletes the old runs. The load comes from this process over loopback HTTP.
 *
 *   npm run bench:retention
 *   BENCH_RETENTION_RUNS=20000 BENCH_ONLY=sqlite npm run bench:retention
 *
 * Knobs (environment):
 *   BENCH_RETENTION_RUNS       old runs inserted (default 100000)
 *   BENCH_RETENTION_BATCH      runs per batch (default: the engine's for the backend, 250 SQLite, 1000 PostgreSQL)
 *   BENCH_RETENTION_PAUSE_MS   pause between batches (default 100)
 *   BENCH_RATE                 webhooks per second, steady (default 200)
 *   BENCH_WARMUP_S             seconds of load first, not measured (default 3)
 *   BENCH_BASELINE_S           seconds of load measured before the pass, and again after it (default 10 each)
 *   BENCH_ONLY                 sqlite, postgres or both (default both)
 *   TENON_BENCH_DATABASE_URL   PostgreSQL URL (default postgres://postgres@127.0.0.1:5432/test); a fresh schema
 *                              bench_retention_<random> is used and dropped at the end
 *
 * Latency is an ack's: from the moment the request was due (its slot in the steady schedule) to its response, so a
 * server that stalls is charged for the requests it kept waiting. Every 2xx must be stored after the server stopped,
 * and no old run may be left.
 *
 * Writes bench/results/retention.json: [{ name, value, unit }].
 */

import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import pg from "pg";
import { pruneBatchSize } from "../src/engine/retention-pruner.ts";
import { openStorage } from "../src/index.ts";
import { insertOldRuns } from "../test/support/old-runs.ts";
import { intEnv } from "./bench-env.ts";
import { signedStripeWebhook } from "./ingest-load.ts";

interface Metric {
  name: string;
  value: number;
  unit: string;
}

interface Sample {
  /** When the request was due, epoch ms. */
  dueAt: number;
  latencyMs: number;
  status: number;
  n: number;
}

const day = 86_400_000;
const oldRuns = intEnv("BENCH_RETENTION_RUNS", 100_000);
const rate = intEnv("BENCH_RATE", 200);
const baselineS = intEnv("BENCH_BASELINE_S", 10);
const warmupS = intEnv("BENCH_WARMUP_S", 3);
const only = new Set((process.env.BENCH_ONLY ?? "sqlite,postgres").split(",").map((s) => s.trim()));
const databaseUrl = process.env.TENON_BENCH_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const secret = `whsec_bench_${randomBytes(16).toString("hex")}`;
const benchDir = dirname(fileURLToPath(import.meta.url));
const resultsFile = join(benchDir, "results", "retention.json");
/** A pass that has not ended by then is reported as a failure. */
const pruneTimeoutMs = 10 * 60_000;

interface Child {
  process: ChildProcess;
  lines: Record<string, unknown>[];
  /** Resolves with the first line (already printed or to come) that has `key`. */
  waitFor(key: string, timeoutMs: number): Promise<Record<string, unknown>>;
  exited: Promise<number | null>;
}

function spawnServer(mode: "sqlite" | "postgres", env: Record<string, string>): Child {
  const child = spawn(process.execPath, ["--import", "tsx", join(benchDir, "retention-server.ts"), mode], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines: Record<string, unknown>[] = [];
  const listeners = new Set<() => void>();
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (text) => {
    try {
      lines.push(JSON.parse(text) as Record<string, unknown>);
    } catch {
      process.stderr.write(`  [retention-server] ${text}\n`);
    }
    for (const listener of listeners) listener();
  });
  const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  return {
    process: child,
    lines,
    exited,
    waitFor(key, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const line = lines.find((l) => key in l);
          if (!line) return false;
          listeners.delete(check);
          clearTimeout(timer);
          resolve(line);
          return true;
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`retention-server: no "${key}" within ${timeoutMs} ms`));
        }, timeoutMs);
        if (!check()) listeners.add(check);
        void exited.then((code) => reject(new Error(`retention-server exited (code ${code}) before "${key}"`)));
      });
    },
  };
}

/** Sends webhooks at `rate` per second, each at its slot, until `until()` says stop; resolves with every ack. */
async function steadyLoad(url: string, firstN: number, until: () => boolean): Promise<Sample[]> {
  const target = new URL(url);
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const samples: Sample[] = [];
  const pending = new Set<Promise<void>>();
  const start = performance.now();
  const epochAtStart = Date.now();
  const intervalMs = 1000 / rate;
  let sent = 0;
  while (!until()) {
    const dueIn = start + sent * intervalMs - performance.now();
    if (dueIn > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(dueIn, 5)));
    while (start + sent * intervalMs <= performance.now() && !until()) {
      const due = start + sent * intervalMs;
      const n = firstN + sent++;
      const { body, signature } = signedStripeWebhook(`evt_retention_${n}`, secret, 1024);
      const done = new Promise<void>((resolve) => {
        const req = request(
          {
            host: target.hostname,
            port: target.port,
            path: "/hooks/stripe",
            method: "POST",
            agent,
            headers: { "content-type": "application/json", "stripe-signature": signature },
          },
          (response) => {
            response.resume();
            response.on("end", () => {
              samples.push({
                dueAt: epochAtStart + (due - start),
                latencyMs: performance.now() - due,
                status: response.statusCode ?? 0,
                n,
              });
              resolve();
            });
          },
        );
        req.on("error", () => {
          samples.push({ dueAt: epochAtStart + (due - start), latencyMs: performance.now() - due, status: 0, n });
          resolve();
        });
        req.end(body);
      });
      pending.add(done);
      void done.then(() => pending.delete(done));
    }
  }
  await Promise.all(pending);
  agent.destroy();
  return samples;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

function latencyMetrics(prefix: string, samples: Sample[]): Metric[] {
  const sorted = samples.map((s) => s.latencyMs).sort((a, b) => a - b);
  const ok = samples.filter((s) => s.status >= 200 && s.status < 300).length;
  return [
    { name: `${prefix}.acks`, value: ok, unit: "responses" },
    { name: `${prefix}.non_2xx`, value: samples.length - ok, unit: "responses" },
    { name: `${prefix}.latency_p50`, value: percentile(sorted, 50), unit: "ms" },
    { name: `${prefix}.latency_p99`, value: percentile(sorted, 99), unit: "ms" },
    { name: `${prefix}.latency_max`, value: sorted[sorted.length - 1] ?? Number.NaN, unit: "ms" },
  ];
}

async function countLeft(
  mode: "sqlite" | "postgres",
  location: string,
): Promise<{ oldRuns: number; ackedStored: Set<string> }> {
  const oldQuery = "SELECT count(*) AS n FROM runs WHERE id LIKE 'old-%'";
  const keysQuery = "SELECT dedup_key FROM events WHERE source = 'stripe' AND dedup_key LIKE 'evt_retention_%'";
  if (mode === "sqlite") {
    const db = new Database(location);
    try {
      const n = (db.prepare(oldQuery).get() as { n: number }).n;
      const keys = db.prepare(keysQuery).pluck().all() as string[];
      return { oldRuns: n, ackedStored: new Set(keys) };
    } finally {
      db.close();
    }
  }
  const client = new pg.Client({ connectionString: databaseUrl, options: `-c search_path=${location}` });
  await client.connect();
  try {
    const n = Number((await client.query<{ n: string }>(oldQuery)).rows[0]?.n);
    const keys = (await client.query<{ dedup_key: string }>(keysQuery)).rows.map((r) => r.dedup_key);
    return { oldRuns: n, ackedStored: new Set(keys) };
  } finally {
    await client.end();
  }
}

async function benchBackend(mode: "sqlite" | "postgres"): Promise<{ metrics: Metric[]; ok: boolean }> {
  const dir = mkdtempSync(join(tmpdir(), "tenon-bench-retention-"));
  const sqlitePath = join(dir, "tenon.db");
  const schema = `bench_retention_${randomBytes(4).toString("hex")}`;
  const location = mode === "sqlite" ? sqlitePath : schema;
  const metrics: Metric[] = [];
  let ok = true;
  try {
    const storage =
      mode === "sqlite"
        ? await openStorage({ sqlitePath, sqliteSynchronous: "FULL" })
        : await openStorage({ databaseUrl, postgresSchema: schema });
    await storage.migrate();
    await storage.close();
    const insertStarted = performance.now();
    await insertOldRuns(mode === "sqlite" ? { sqlitePath } : { databaseUrl, schema }, {
      count: oldRuns,
      finishedAt: Date.now() - 40 * day,
    });
    const insertS = (performance.now() - insertStarted) / 1000;
    console.log(`${mode}: ${oldRuns} old runs inserted in ${insertS.toFixed(1)} s`);
    metrics.push({ name: `${mode}.old_runs_inserted`, value: oldRuns, unit: "runs" });
    metrics.push({ name: `${mode}.insert_time`, value: insertS, unit: "s" });

    const server = spawnServer(mode, {
      BENCH_RETENTION_SECRET: secret,
      ...(mode === "sqlite"
        ? { BENCH_RETENTION_SQLITE_PATH: sqlitePath }
        : { BENCH_RETENTION_DATABASE_URL: databaseUrl, BENCH_RETENTION_PG_SCHEMA: schema }),
    });
    try {
      const url = (await server.waitFor("url", 60_000)).url as string;
      const forSeconds = (seconds: number) => {
        const end = performance.now() + seconds * 1000;
        return () => performance.now() >= end;
      };
      // Not measured: the server's JIT, pools and caches settle first.
      const warmup = await steadyLoad(url, 0, forSeconds(warmupS));
      const before = await steadyLoad(url, warmup.length, forSeconds(baselineS));
      console.log(`${mode}: baseline done (${before.length} webhooks); pruning starts`);
      server.process.kill("SIGUSR2");
      const started = (await server.waitFor("pruneStarted", 10_000)).pruneStarted as number;
      let done: Record<string, unknown> | undefined;
      void server.waitFor("pruneDone", pruneTimeoutMs).then((line) => {
        done = line;
      });
      const deadline = performance.now() + pruneTimeoutMs;
      const sentSoFar = warmup.length + before.length;
      const during = await steadyLoad(url, sentSoFar, () => done !== undefined || performance.now() > deadline);
      if (!done) throw new Error(`${mode}: the pass did not end within ${pruneTimeoutMs / 1000} s`);
      const finished = done.pruneDone as number;
      // The same again after the pass: the machine's other load drifts, so the baseline brackets the pass.
      const after = await steadyLoad(url, sentSoFar + during.length, forSeconds(baselineS));
      const baseline = [...before, ...after];
      const total = done.total as Record<string, number>;
      const batches = server.lines.filter((l) => "batch" in l).map((l) => l.batch as Record<string, number>);
      // Only acks of requests due while the pass ran count as "during pruning".
      const inPass = during.filter((s) => s.dueAt >= started && s.dueAt <= finished);
      console.log(
        `${mode}: ${total.runs} runs pruned in ${((finished - started) / 1000).toFixed(1)} s, ${batches.length} batches`,
      );
      metrics.push(
        { name: `${mode}.runs_pruned`, value: total.runs ?? 0, unit: "runs" },
        { name: `${mode}.events_pruned`, value: total.events ?? 0, unit: "events" },
        { name: `${mode}.rows_pruned`, value: Object.values(total).reduce((a, b) => a + b, 0), unit: "rows" },
        { name: `${mode}.prune_time`, value: (finished - started) / 1000, unit: "s" },
        { name: `${mode}.batches`, value: batches.length, unit: "batches" },
        { name: `${mode}.batch_size`, value: batchSizeFor(mode), unit: "runs" },
        { name: `${mode}.largest_batch`, value: Math.max(...batches.map((b) => b.runs ?? 0)), unit: "runs" },
        { name: `${mode}.ingest_rate`, value: rate, unit: "req/s" },
        ...latencyMetrics(`${mode}.without_pruning`, baseline),
        ...latencyMetrics(`${mode}.during_pruning`, inPass),
      );
      const acked = [...warmup, ...baseline, ...during].filter((s) => s.status >= 200 && s.status < 300);
      const stopped = await stopServer(server);
      const left = await countLeft(mode, location);
      const lost = acked.filter((s) => !left.ackedStored.has(`evt_retention_${s.n}`)).length;
      metrics.push(
        { name: `${mode}.old_runs_left`, value: left.oldRuns, unit: "runs" },
        { name: `${mode}.acked_events_missing`, value: lost, unit: "events" },
      );
      if (!stopped || left.oldRuns !== 0 || lost !== 0 || total.runs !== oldRuns) {
        console.error(
          `${mode}: FAILED (stopped cleanly: ${stopped}, old runs left: ${left.oldRuns}, acked events missing: ${lost})`,
        );
        ok = false;
      }
    } finally {
      if (server.process.exitCode === null) await stopServer(server);
    }
  } finally {
    if (mode === "postgres") {
      const client = new pg.Client({ connectionString: databaseUrl });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await client.end();
    }
    rmSync(dir, { recursive: true, force: true });
  }
  return { metrics, ok };
}

async function stopServer(server: Child): Promise<boolean> {
  server.process.kill("SIGTERM");
  const code = await Promise.race([
    server.exited,
    new Promise<"timeout">((r) => setTimeout(() => r("timeout"), 30_000)),
  ]);
  if (code !== "timeout") return code === 0;
  server.process.kill("SIGKILL");
  await server.exited;
  return false;
}

const metrics: Metric[] = [
  { name: "load.rate", value: rate, unit: "req/s" },
  { name: "load.baseline", value: baselineS, unit: "s" },
  // The machine may be shared (2 cores): what else ran shows here.
  { name: "machine.load_average_1m_at_start", value: loadavg()[0] as number, unit: "processes" },
  { name: "retention.pause", value: intEnv("BENCH_RETENTION_PAUSE_MS", 100), unit: "ms" },
];
let ok = true;
for (const mode of ["sqlite", "postgres"] as const) {
  if (!only.has(mode)) continue;
  const result = await benchBackend(mode);
  metrics.push(...result.metrics);
  ok &&= result.ok;
}
metrics.push({ name: "machine.load_average_1m_at_end", value: loadavg()[0] as number, unit: "processes" });
mkdirSync(dirname(resultsFile), { recursive: true });
writeFileSync(resultsFile, `${JSON.stringify(metrics, null, 2)}\n`);
console.table(
  Object.fromEntries(
    metrics.map((m) => [m.name, `${Number.isInteger(m.value) ? m.value : m.value.toFixed(2)} ${m.unit}`]),
  ),
);
console.log(`wrote ${resultsFile}`);
process.exit(ok ? 0 : 1);

/** What the server prunes per batch: BENCH_RETENTION_BATCH, or the engine's size for the backend. */
function batchSizeFor(mode: "sqlite" | "postgres"): number {
  if (process.env.BENCH_RETENTION_BATCH) return intEnv("BENCH_RETENTION_BATCH", 1000);
  return pruneBatchSize(mode);
}
