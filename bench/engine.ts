/**
 * Throughput benchmark: Tenon on SQLite and PostgreSQL, and graphile-worker on the same PostgreSQL.
 *
 *   npm run bench:engine                      # 20,000 events per backend
 *   BENCH_EVENTS=2000 npm run bench:engine    # quick run
 *
 * Knobs (environment):
 *   BENCH_EVENTS                 events (runs) per backend and jobs for graphile-worker (default 20000)
 *   BENCH_LIGHT_EVENTS           events sent one at a time (10 ms apart) after the burst, for light-load latency (default 200)
 *   BENCH_SEND_CHUNK             engine.send calls issued concurrently per chunk (default 500)
 *   BENCH_CONCURRENCY            Tenon worker concurrency (default 500)
 *   BENCH_CLAIM_BATCH            Tenon worker claimBatch (default 100)
 *   BENCH_PG_POOL                Tenon PostgreSQL pool size (default: the storage default, 10)
 *   BENCH_GRAPHILE_CONCURRENCY   comma-separated graphile-worker concurrencies to try; the best is reported (default "10,20")
 *   BENCH_ONLY                   comma-separated subset of sqlite,postgres,graphile (default all)
 *   BENCH_TIMEOUT_MS             give up on a drain after this long (default 600000)
 *   BENCH_STALL_MS               kill the process if its event loop stalls this long (default 60000)
 *   BENCH_TRACE                  1: time every storage call (count, batch size, ms) and print a table per backend
 *   BENCH_INSTRUMENTATION        "compare": runs each Tenon backend with the instrumentation off and on, twice, in the
 *                                order off, on, on, off, and prints the ratio on/off of the mean runs/s (the usual
 *                                metrics are those of the instrumented runs, the last one of each mode); "off": one
 *                                run with the metrics off (to profile one mode against the other)
 *   BENCH_DASHBOARDS             N: the dashboard's polling cost. The engine serves its API, and each Tenon backend runs
 *                                without and with N open overviews polling it (bench/dashboard-polling.ts: the requests
 *                                and intervals of dashboard/src/api/polling.ts, over HTTP with a session), in the order
 *                                without, with, with, without; prints the ratio with/without of the mean runs/s, and what
 *                                the polling costs in CPU per second, each request timed on its own after the drain.
 *                                Give it enough events for the drain to see every interval (a minute or more)
 *   TENON_BENCH_DATABASE_URL     PostgreSQL URL (default postgres://postgres@127.0.0.1:5432/test)
 *
 * Writes bench/results/engine.json: [{ name, value, unit }].
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { Worker as WorkerThread } from "node:worker_threads";
import {
  Logger as GraphileLogger,
  runMigrations as runGraphileMigrations,
  run as runGraphileWorker,
} from "graphile-worker";
import pg from "pg";
import pino from "pino";
import { firingAlertsPoll, healthPoll, pollUrl } from "../dashboard/src/api/polling.ts";
import { createEngine, defineIntegration, type Engine, openStorage, type Storage } from "../src/index.ts";
import { createMetrics } from "../src/observability/metrics.ts";
import { createServer } from "../src/server/create-server.ts";
import { throughputWindows } from "../src/server/stats-route.ts";
import { intEnv } from "./bench-env.ts";
import { type OpenDashboards, openDashboards, signIn } from "./dashboard-polling.ts";

interface Metric {
  name: string;
  value: number;
  unit: string;
}

const events = intEnv("BENCH_EVENTS", 20_000);
const sendChunk = intEnv("BENCH_SEND_CHUNK", 500);
const lightEvents = intEnv("BENCH_LIGHT_EVENTS", 200);
const workerConcurrency = intEnv("BENCH_CONCURRENCY", 500);
const claimBatch = intEnv("BENCH_CLAIM_BATCH", 100);
const pgPool = process.env.BENCH_PG_POOL ? intEnv("BENCH_PG_POOL", 10) : undefined;
const graphileConcurrencies = (process.env.BENCH_GRAPHILE_CONCURRENCY ?? "10,20")
  .split(",")
  .map((s) => Number.parseInt(s.trim(), 10))
  .filter((n) => Number.isInteger(n) && n > 0);
const only = new Set((process.env.BENCH_ONLY ?? "sqlite,postgres,graphile").split(",").map((s) => s.trim()));
const timeoutMs = intEnv("BENCH_TIMEOUT_MS", 600_000);
const databaseUrl = process.env.TENON_BENCH_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const stallMs = intEnv("BENCH_STALL_MS", 60_000);
const trace = process.env.BENCH_TRACE === "1";
const compareInstrumentation = process.env.BENCH_INSTRUMENTATION === "compare";
const instrumentationOff = process.env.BENCH_INSTRUMENTATION === "off";
const dashboards = process.env.BENCH_DASHBOARDS ? intEnv("BENCH_DASHBOARDS", 5) : 0;
/** The viewer token the simulated dashboards sign in with. */
const dashboardToken = "bench-dashboard-viewer-token";
if (compareInstrumentation && dashboards > 0) {
  throw new Error("BENCH_INSTRUMENTATION=compare and BENCH_DASHBOARDS compare different things: set one of them");
}
const tenonSchema = "tenon_bench";
const graphileSchema = "graphile_bench";
const resultsFile = join(dirname(fileURLToPath(import.meta.url)), "results", "engine.json");

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Nearest-rank percentile of an unsorted sample. */
function percentile(values: Float64Array, p: number): number {
  const sorted = Float64Array.from(values).sort();
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}

/** Samples RSS every 50 ms between start() and stop(); returns the peak in MB. */
class RssSampler {
  #peak = 0;
  #timer: NodeJS.Timeout | undefined;

  start(): void {
    this.#peak = process.memoryUsage.rss();
    this.#timer = setInterval(() => {
      this.#peak = Math.max(this.#peak, process.memoryUsage.rss());
    }, 50);
  }

  stop(): number {
    clearInterval(this.#timer);
    this.#peak = Math.max(this.#peak, process.memoryUsage.rss());
    return this.#peak / (1024 * 1024);
  }
}

/**
 * Kills the process when its event loop stops turning for `ms` (a microtask spin cannot be interrupted from
 * inside the thread, so a helper thread watches heartbeats).
 */
function startStallWatchdog(ms: number): () => Promise<void> {
  const shared = new Int32Array(new SharedArrayBuffer(4));
  const watchdog = new WorkerThread(
    `const { workerData } = require("node:worker_threads");
     const { writeSync } = require("node:fs");
     const beats = workerData.beats;
     let last = Atomics.load(beats, 0), since = Date.now();
     setInterval(() => {
       const now = Atomics.load(beats, 0);
       if (now !== last) { last = now; since = Date.now(); return; }
       if (Date.now() - since > workerData.ms) {
         writeSync(2, "bench: the event loop stalled for " + workerData.ms + " ms (an engine hang?); killing the process\\n");
         process.kill(process.pid, "SIGKILL");
       }
     }, 250);`,
    { eval: true, workerData: { beats: shared, ms } },
  );
  watchdog.unref();
  const beat = setInterval(() => Atomics.add(shared, 0, 1), 100);
  beat.unref();
  return async () => {
    clearInterval(beat);
    await watchdog.terminate();
  };
}

interface CallStats {
  calls: number;
  items: number;
  results: number;
  ms: number;
}

/**
 * Wraps the storage to time each call from invocation to settlement (BENCH_TRACE=1). `items` sums the length of an
 * array first argument (batch size), `results` the length of an array result.
 */
function traced(storage: Storage, stats: Map<string, CallStats>): Storage {
  return new Proxy(storage, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== "function" || typeof property !== "string") return value;
      return (...args: unknown[]) => {
        const started = performance.now();
        const record = (result: unknown) => {
          const entry = stats.get(property) ?? { calls: 0, items: 0, results: 0, ms: 0 };
          entry.calls++;
          entry.ms += performance.now() - started;
          if (Array.isArray(args[0])) entry.items += args[0].length;
          if (Array.isArray(result)) entry.results += result.length;
          stats.set(property, entry);
        };
        const result: unknown = value.apply(target, args);
        if (result instanceof Promise) {
          return result.then((r: unknown) => {
            record(r);
            return r;
          });
        }
        record(result);
        return result;
      };
    },
  });
}

function printTrace(label: string, stats: Map<string, CallStats>, wallMs: number): void {
  console.log(`\n  ${label} storage calls (ms = summed call→settle time; wall ${wallMs.toFixed(0)} ms)`);
  console.log(
    `  ${"method".padEnd(20)} ${"calls".padStart(7)} ${"items/call".padStart(10)} ${"results/call".padStart(12)} ${"ms".padStart(8)} ${"ms/call".padStart(8)}`,
  );
  for (const [method, s] of [...stats].sort((a, b) => b[1].ms - a[1].ms)) {
    console.log(
      `  ${method.padEnd(20)} ${String(s.calls).padStart(7)} ${(s.items / s.calls).toFixed(1).padStart(10)} ${(s.results / s.calls).toFixed(1).padStart(12)} ${s.ms.toFixed(0).padStart(8)} ${(s.ms / s.calls).toFixed(2).padStart(8)}`,
    );
  }
}

async function withPg<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Tenon

/**
 * How one Tenon run is set up. `instrumented`: metrics on (with process metrics and a scrape every 5 s, as `tenon
 * start` under Prometheus) or off (TENON_METRICS=off). `dashboards`: overviews polling the engine's API while it
 * drains (0: none); with BENCH_DASHBOARDS the API is served in every run, polled or not, so that only the polling
 * differs between the two modes.
 */
interface RunMode {
  instrumented: boolean;
  dashboards: number;
}

async function benchTenon(label: "sqlite" | "postgres", rawStorage: Storage, mode: RunMode): Promise<Metric[]> {
  const { instrumented } = mode;
  const stats = new Map<string, CallStats>();
  const storage = trace ? traced(rawStorage, stats) : rawStorage;
  const n = events;
  const sendAt = new Float64Array(n); // engine.send called
  const ackAt = new Float64Array(n); // engine.send resolved (event and run committed)
  const firstStepAt = new Float64Array(n + lightEvents); // step "one" started
  const integration = defineIntegration<{ id: number }>({
    id: "bench",
    trigger: { event: "bench.tick" },
    run: async ({ event, step }) => {
      await step.run("one", () => {
        const id = event.payload.id;
        if (firstStepAt[id] === 0) firstStepAt[id] = performance.now();
        return 1;
      });
      await step.run("two", () => 2);
      await step.run("three", () => 3);
    },
  });
  const logger = pino({ level: "silent" });
  const metrics = createMetrics({ enabled: instrumented, processMetrics: true });
  const scrapes = setInterval(() => void metrics.registry.metrics().catch(() => {}), 5000);
  // One engine accepts and runs, as `tenon start` does.
  const engine = createEngine({
    storage,
    metrics,
    integrations: [integration],
    logger,
    worker: { concurrency: workerConcurrency, claimBatch },
  });
  await engine.start();
  const api = dashboards > 0 ? await serveApi(engine, integration.id) : undefined;
  const open =
    api && mode.dashboards > 0
      ? await openDashboards({ url: api.url, token: dashboardToken, count: mode.dashboards })
      : undefined;

  const rss = new RssSampler();
  rss.start();
  const t0 = performance.now();
  const cpuAtStart = process.cpuUsage();
  for (let from = 0; from < n; from += sendChunk) {
    const pending: Promise<void>[] = [];
    for (let id = from; id < Math.min(n, from + sendChunk); id++) {
      sendAt[id] = performance.now();
      pending.push(
        engine.send({ type: "bench.tick", payload: { id } }).then(() => {
          ackAt[id] = performance.now();
        }),
      );
    }
    await Promise.all(pending);
  }
  const enqueuedAt = performance.now();

  let drainedAt = 0;
  for (;;) {
    const counts = await storage.countRunsByStatus();
    const succeeded = counts.succeeded ?? 0;
    const broken = (counts.failed ?? 0) + (counts.dead ?? 0);
    if (broken > 0) throw new Error(`${label}: ${broken} runs failed: ${JSON.stringify(counts)}`);
    if (succeeded >= n) {
      drainedAt = performance.now();
      break;
    }
    if (performance.now() - t0 > timeoutMs) throw new Error(`${label}: not drained in time: ${JSON.stringify(counts)}`);
    await sleep(100);
  }
  const cpu = process.cpuUsage(cpuAtStart);
  const peakRss = rss.stop();
  if (trace) printTrace(label, stats, drainedAt - t0);
  const engineCpuPerS = (cpu.user + cpu.system) / 1000 / ((drainedAt - t0) / 1000);
  const polling = open && api ? await pollingCost(label, open, api.url, storage, engineCpuPerS) : [];
  await api?.close();

  // Light load: one event every 10 ms into an idle engine, the "webhook ack → first step" latency.
  const lightLatency = new Float64Array(lightEvents);
  const lightAck = new Float64Array(lightEvents);
  for (let i = 0; i < lightEvents; i++) {
    const id = n + i;
    const sentAt = performance.now();
    await engine.send({ type: "bench.tick", payload: { id } });
    lightAck[i] = performance.now() - sentAt;
    await sleep(10);
    while (firstStepAt[id] === 0) await sleep(1);
    lightLatency[i] = (firstStepAt[id] as number) - sentAt;
  }

  clearInterval(scrapes);
  await engine.stop();
  await storage.close();

  const latency = new Float64Array(n);
  const ack = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    latency[i] = (firstStepAt[i] as number) - (sendAt[i] as number);
    ack[i] = (ackAt[i] as number) - (sendAt[i] as number);
  }
  const enqueueS = (enqueuedAt - t0) / 1000;
  const drainS = (drainedAt - t0) / 1000;
  return [
    { name: `${label}.events`, value: n, unit: "events" },
    { name: `${label}.worker_concurrency`, value: workerConcurrency, unit: "runs" },
    { name: `${label}.worker_claim_batch`, value: claimBatch, unit: "runs" },
    { name: `${label}.enqueue_per_s`, value: n / enqueueS, unit: "events/s" },
    { name: `${label}.runs_per_s`, value: n / drainS, unit: "runs/s" },
    { name: `${label}.journal_writes_per_s`, value: (4 * n) / drainS, unit: "writes/s" },
    { name: `${label}.drain_time`, value: drainS, unit: "s" },
    { name: `${label}.enqueue_ack_p50`, value: percentile(ack, 50), unit: "ms" },
    { name: `${label}.enqueue_ack_p99`, value: percentile(ack, 99), unit: "ms" },
    { name: `${label}.latency_first_step_p50`, value: percentile(latency, 50), unit: "ms" },
    { name: `${label}.latency_first_step_p99`, value: percentile(latency, 99), unit: "ms" },
    { name: `${label}.peak_rss`, value: peakRss, unit: "MB" },
    // What a run costs this process (sending included); on a machine shared with other work it varies too.
    { name: `${label}.cpu_per_run`, value: (cpu.user + cpu.system) / n, unit: "µs" },
    { name: `${label}.light_load_ack_p50`, value: percentile(lightAck, 50), unit: "ms" },
    { name: `${label}.light_load_ack_p99`, value: percentile(lightAck, 99), unit: "ms" },
    { name: `${label}.light_load_first_step_p50`, value: percentile(lightLatency, 50), unit: "ms" },
    { name: `${label}.light_load_first_step_p99`, value: percentile(lightLatency, 99), unit: "ms" },
    ...polling,
  ];
}

/** The engine's HTTP server (the API and the dashboard) with a viewer token, as `tenon start` serves it. */
async function serveApi(engine: Engine, integrationId: string) {
  const server = createServer({
    engine,
    logger: pino({ level: "silent" }),
    apiTokens: [{ name: "bench-dashboard", role: "viewer", token: dashboardToken }],
    integrations: [{ id: integrationId, trigger: { event: "bench.tick" } }],
  });
  const url = await server.listen({ host: "127.0.0.1", port: 0 });
  return { url, close: () => server.close() };
}

/**
 * What the polling costs, request by request, after the drain (the database full of its runs): this process's CPU
 * for each of the overview's requests over HTTP, one after the other (the client's share included: the figure errs
 * high), times how often N dashboards send it. The throughput answers are computed once per reuse period whatever the
 * number of dashboards (stats-route.ts), so their query is timed on its own, as the route runs it. Beside it, the
 * engine's own CPU per second during the drain: the share is the polling's over the engine's. PostgreSQL's own CPU
 * is in neither.
 */
async function pollingCost(
  label: string,
  open: OpenDashboards,
  url: string,
  storage: Storage,
  engineCpuPerS: number,
): Promise<Metric[]> {
  const stats = await open.close();
  if (stats.errors > 0) throw new Error(`${label}: ${stats.errors} dashboard requests failed: ${stats.firstError}`);
  const cookie = await signIn(url, dashboardToken);
  const cpuMsPerCall = async (work: () => Promise<unknown>, calls = 40) => {
    await work();
    const before = process.cpuUsage();
    for (let call = 0; call < calls; call += 1) await work();
    const used = process.cpuUsage(before);
    return (used.user + used.system) / 1000 / calls;
  };
  const ask = (path: string) => async () => {
    const response = await fetch(`${url}${path}`, { headers: { cookie } });
    await response.arrayBuffer();
    if (!response.ok) throw new Error(`${label}: ${path} answered ${response.status}`);
  };
  const throughput = (window: keyof typeof throughputWindows) => async () => {
    const { lengthMs, bucketMs } = throughputWindows[window];
    const end = Math.ceil((Date.now() + 1) / bucketMs) * bucketMs;
    await storage.readApi.throughput(end - lengthMs, end, bucketMs);
  };
  const health = await cpuMsPerCall(ask(pollUrl(healthPoll)));
  const alerts = await cpuMsPerCall(ask(pollUrl(firingAlertsPoll)));
  const hour = await cpuMsPerCall(throughput("1h"), 10);
  const day = await cpuMsPerCall(throughput("24h"), 10);
  const perSecond = (ms: number, everyMs: number) => (ms * 1000) / everyMs;
  const pollingCpuPerS =
    dashboards * (perSecond(health, healthPoll.everyMs) + perSecond(alerts, firingAlertsPoll.everyMs)) +
    perSecond(hour, throughputWindows["1h"].reuseMs) +
    perSecond(day, throughputWindows["24h"].reuseMs);
  const latencies = Float64Array.from(stats.latenciesMs);
  return [
    { name: `${label}.dashboards`, value: dashboards, unit: "dashboards" },
    { name: `${label}.dashboard_requests`, value: stats.requests, unit: "requests" },
    { name: `${label}.dashboard_request_p50`, value: percentile(latencies, 50), unit: "ms" },
    { name: `${label}.dashboard_request_p95`, value: percentile(latencies, 95), unit: "ms" },
    { name: `${label}.dashboard_health_cpu`, value: health, unit: "CPU ms/request" },
    { name: `${label}.dashboard_alerts_cpu`, value: alerts, unit: "CPU ms/request" },
    { name: `${label}.dashboard_throughput_1h_cpu`, value: hour, unit: "CPU ms/query" },
    { name: `${label}.dashboard_throughput_24h_cpu`, value: day, unit: "CPU ms/query" },
    { name: `${label}.dashboard_polling_cpu_per_s`, value: pollingCpuPerS, unit: "CPU ms/s" },
    { name: `${label}.engine_cpu_per_s`, value: engineCpuPerS, unit: "CPU ms/s" },
    { name: `${label}.dashboard_polling_cpu_share`, value: (100 * pollingCpuPerS) / engineCpuPerS, unit: "%" },
  ];
}

async function benchSqlite(mode: RunMode): Promise<Metric[]> {
  const dir = mkdtempSync(join(tmpdir(), "tenon-bench-"));
  try {
    const storage = await openStorage({ sqlitePath: join(dir, "tenon.db"), sqliteSynchronous: "FULL" });
    return await benchTenon("sqlite", storage, mode);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function benchPostgres(mode: RunMode): Promise<Metric[]> {
  await withPg((client) => client.query(`DROP SCHEMA IF EXISTS ${tenonSchema} CASCADE`));
  const storage = await openStorage({
    databaseUrl,
    postgresSchema: tenonSchema,
    ...(pgPool ? { postgresMaxConnections: pgPool } : {}),
  });
  const metrics = await benchTenon("postgres", storage, mode);
  if (pgPool) metrics.push({ name: "postgres.pool_size", value: pgPool, unit: "connections" });
  return metrics;
}

/** What is compared, and the names of its figures: `<on>_runs_per_s_mean`, `<name>_on_off_ratio`, … */
interface Comparison {
  name: "instrumentation" | "dashboards";
  on: string;
  off: string;
  mode: (on: boolean) => RunMode;
}

const instrumentationComparison: Comparison = {
  name: "instrumentation",
  on: "instrumented",
  off: "uninstrumented",
  mode: (on) => ({ instrumented: on, dashboards: 0 }),
};

const dashboardsComparison: Comparison = {
  name: "dashboards",
  on: "with_dashboards",
  off: "without_dashboards",
  mode: (on) => ({ instrumented: !instrumentationOff, dashboards: on ? dashboards : 0 }),
};

/**
 * What something costs on one backend: off, on, on, off (so a drift of the machine over the four runs weighs on
 * both modes alike); the ratio of the mean runs/s. Returns the last "on" run's metrics plus the comparison (and, for
 * the dashboards, the mean over both "on" runs of the polling's CPU share).
 */
async function compareOnOff(
  label: "sqlite" | "postgres",
  comparison: Comparison,
  bench: (mode: RunMode) => Promise<Metric[]>,
): Promise<Metric[]> {
  const rates = { on: [] as number[], off: [] as number[] };
  const cpu = { on: [] as number[], off: [] as number[] };
  const pollingShare: number[] = [];
  let last: Metric[] = [];
  for (const on of [false, true, true, false]) {
    const metrics = await bench(comparison.mode(on));
    const value = (name: string) => metrics.find((m) => m.name === `${label}.${name}`)?.value ?? Number.NaN;
    const mode = on ? "on" : "off";
    console.log(
      `  ${comparison.name} ${mode.padEnd(3)}: ${format(value("runs_per_s"))} runs/s, ${format(value("cpu_per_run"))} µs CPU per run`,
    );
    rates[mode].push(value("runs_per_s"));
    cpu[mode].push(value("cpu_per_run"));
    if (on) {
      last = metrics;
      pollingShare.push(value("dashboard_polling_cpu_share"));
    }
  }
  const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
  const { name, on, off } = comparison;
  return [
    ...last,
    ...(name === "dashboards"
      ? [{ name: `${label}.dashboard_polling_cpu_share_mean`, value: mean(pollingShare), unit: "%" }]
      : []),
    { name: `${label}.${on}_runs_per_s_mean`, value: mean(rates.on), unit: "runs/s" },
    { name: `${label}.${off}_runs_per_s_mean`, value: mean(rates.off), unit: "runs/s" },
    { name: `${label}.${name}_on_off_ratio`, value: mean(rates.on) / mean(rates.off), unit: "x" },
    { name: `${label}.${name}_cpu_per_run_on_off_ratio`, value: mean(cpu.on) / mean(cpu.off), unit: "x" },
  ];
}

// ---------------------------------------------------------------------------------------------------------------
// graphile-worker

const silentGraphileLogger = new GraphileLogger(() => () => {});

/** Drains `n` no-op jobs with one runner of the given concurrency (pool size = concurrency); returns jobs/s and more. */
async function drainGraphile(n: number, concurrency: number) {
  await withPg((client) => client.query(`DROP SCHEMA IF EXISTS ${graphileSchema} CASCADE`));
  const common = {
    connectionString: databaseUrl,
    schema: graphileSchema,
    logger: silentGraphileLogger,
    noHandleSignals: true,
  };
  await runGraphileMigrations(common);

  const addStart = performance.now();
  await withPg(async (client) => {
    // Bulk insert through the add_jobs SQL function, in slices so one statement stays reasonable.
    for (let from = 0; from < n; from += 5000) {
      await client.query(
        `SELECT count(*) FROM ${graphileSchema}.add_jobs(ARRAY(
           SELECT ROW('noop', json_build_object('id', i), NULL, NULL, NULL, NULL, NULL, NULL)::${graphileSchema}.job_spec
           FROM generate_series($1::int, $2::int) AS i))`,
        [from, Math.min(n, from + 5000) - 1],
      );
    }
  });
  const addS = (performance.now() - addStart) / 1000;

  let done = 0;
  let finished: () => void = () => {};
  const allDone = new Promise<void>((resolve) => {
    finished = resolve;
  });
  const rss = new RssSampler();
  rss.start();
  const t0 = performance.now();
  const runner = await runGraphileWorker({
    ...common,
    concurrency,
    maxPoolSize: concurrency,
    taskList: {
      noop: async () => {
        done++;
        if (done === n) finished();
      },
    },
  });
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    allDone,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`graphile-worker: only ${done}/${n} jobs ran in time`)), timeoutMs);
    }),
  ]);
  clearTimeout(timer);
  // The task resolved, but the job row is deleted by complete_job right after: wait until the table is empty.
  await withPg(async (client) => {
    for (;;) {
      const { rows } = await client.query<{ count: string }>(`SELECT count(*) FROM ${graphileSchema}._private_jobs`);
      if (Number(rows[0]?.count) === 0) return;
      await sleep(5);
    }
  });
  const drainS = (performance.now() - t0) / 1000;
  const peakRss = rss.stop();
  await runner.stop();
  return { concurrency, jobsPerS: n / drainS, drainS, addPerS: n / addS, peakRss };
}

async function benchGraphile(): Promise<Metric[]> {
  const trials = [];
  for (const concurrency of graphileConcurrencies) {
    const trial = await drainGraphile(events, concurrency);
    console.log(`  graphile-worker concurrency ${concurrency}: ${trial.jobsPerS.toFixed(0)} jobs/s`);
    trials.push(trial);
  }
  const best = trials.reduce((a, b) => (b.jobsPerS > a.jobsPerS ? b : a));
  await withPg((client) => client.query(`DROP SCHEMA IF EXISTS ${graphileSchema} CASCADE`));
  return [
    { name: "graphile_worker.jobs", value: events, unit: "jobs" },
    ...trials.map((t) => ({
      name: `graphile_worker.jobs_per_s_at_concurrency_${t.concurrency}`,
      value: t.jobsPerS,
      unit: "jobs/s",
    })),
    { name: "graphile_worker.concurrency", value: best.concurrency, unit: "jobs" },
    { name: "graphile_worker.jobs_per_s", value: best.jobsPerS, unit: "jobs/s" },
    { name: "graphile_worker.drain_time", value: best.drainS, unit: "s" },
    { name: "graphile_worker.add_jobs_per_s", value: best.addPerS, unit: "jobs/s" },
    { name: "graphile_worker.peak_rss", value: best.peakRss, unit: "MB" },
  ];
}

// ---------------------------------------------------------------------------------------------------------------

function format(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (Number.isInteger(value)) return value.toLocaleString("en-US");
  return value.toLocaleString("en-US", { maximumFractionDigits: Math.abs(value) >= 100 ? 0 : 2 });
}

function printTable(metrics: Metric[]): void {
  const nameWidth = Math.max(...metrics.map((m) => m.name.length), 6);
  const valueWidth = Math.max(...metrics.map((m) => format(m.value).length), 5);
  console.log(`\n${"metric".padEnd(nameWidth)}  ${"value".padStart(valueWidth)}  unit`);
  console.log(`${"-".repeat(nameWidth)}  ${"-".repeat(valueWidth)}  ${"-".repeat(8)}`);
  for (const m of metrics)
    console.log(`${m.name.padEnd(nameWidth)}  ${format(m.value).padStart(valueWidth)}  ${m.unit}`);
}

async function main(): Promise<void> {
  console.log(
    `Tenon engine bench: ${events} events, send chunk ${sendChunk}, worker concurrency ${workerConcurrency}, claimBatch ${claimBatch}`,
  );
  const stopWatchdog = startStallWatchdog(stallMs);
  const metrics: Metric[] = [];
  const comparison = compareInstrumentation
    ? instrumentationComparison
    : dashboards > 0
      ? dashboardsComparison
      : undefined;
  const measure = (label: "sqlite" | "postgres", bench: (mode: RunMode) => Promise<Metric[]>) =>
    comparison ? compareOnOff(label, comparison, bench) : bench({ instrumented: !instrumentationOff, dashboards: 0 });
  if (only.has("sqlite")) {
    console.log("- SQLite (synchronous=FULL)…");
    metrics.push(...(await measure("sqlite", benchSqlite)));
  }
  if (only.has("postgres")) {
    console.log("- PostgreSQL…");
    metrics.push(...(await measure("postgres", benchPostgres)));
  }
  if (only.has("graphile")) {
    console.log("- graphile-worker 0.16.6 (no-op jobs)…");
    metrics.push(...(await benchGraphile()));
  }
  const value = (name: string) => metrics.find((m) => m.name === name)?.value;
  const pgRuns = value("postgres.runs_per_s");
  const gwJobs = value("graphile_worker.jobs_per_s");
  if (pgRuns !== undefined && gwJobs !== undefined) {
    metrics.push({ name: "postgres.ratio_to_graphile_worker", value: pgRuns / gwJobs, unit: "x" });
  }
  printTable(metrics);

  console.log("\nTargets:");
  for (const label of ["sqlite", "postgres"]) {
    const ratio = value(`${label}.instrumentation_on_off_ratio`);
    if (ratio === undefined) continue;
    console.log(
      `  ${label}: instrumentation costs ≤ 5% of runs/s: on/off = ${format(value(`${label}.instrumented_runs_per_s_mean`) ?? 0)} / ${format(value(`${label}.uninstrumented_runs_per_s_mean`) ?? 0)} = ${ratio.toFixed(3)} → ${ratio >= 0.95 ? "MET" : "MISSED"}` +
        ` (CPU per run on/off ${(value(`${label}.instrumentation_cpu_per_run_on_off_ratio`) ?? Number.NaN).toFixed(3)})`,
    );
  }
  for (const label of ["sqlite", "postgres"]) {
    const ratio = value(`${label}.dashboards_on_off_ratio`);
    if (ratio === undefined) continue;
    const share = value(`${label}.dashboard_polling_cpu_share_mean`) ?? Number.NaN;
    console.log(
      `  ${label}: ${dashboards} open dashboards cost ≤ 2% of runs/s: with/without = ${format(value(`${label}.with_dashboards_runs_per_s_mean`) ?? 0)} / ${format(value(`${label}.without_dashboards_runs_per_s_mean`) ?? 0)} = ${ratio.toFixed(3)} → ${ratio >= 0.98 ? "MET" : "MISSED"}`,
    );
    console.log(
      `  ${label}: … and ≤ 2% of the engine's CPU, request by request: ${format(value(`${label}.dashboard_polling_cpu_per_s`) ?? Number.NaN)} ms/s = ${share.toFixed(2)}% → ${share <= 2 ? "MET" : "MISSED"}`,
    );
  }
  const sqliteRuns = value("sqlite.runs_per_s");
  if (sqliteRuns !== undefined) {
    console.log(`  SQLite ≥ 2,000 runs/s: ${format(sqliteRuns)} runs/s → ${sqliteRuns >= 2000 ? "MET" : "MISSED"}`);
  }
  if (pgRuns !== undefined && gwJobs !== undefined) {
    const ratio = pgRuns / gwJobs;
    console.log(
      `  PostgreSQL ≥ 1.0 × graphile-worker: ${format(pgRuns)} runs/s vs ${format(gwJobs)} jobs/s = ${ratio.toFixed(2)}× → ${ratio >= 1 ? "MET" : "MISSED"}`,
    );
  }
  console.log(
    "\nruns/s and journal writes/s are measured from the first send to the poll (every 100 ms) that saw all runs succeeded;" +
      "\njournal writes count 4 per run (3 step records + 1 completion), not the event/run inserts or claims." +
      "\nLatency is engine.send() called → step “one” started.",
  );

  mkdirSync(dirname(resultsFile), { recursive: true });
  writeFileSync(resultsFile, `${JSON.stringify(metrics, null, 2)}\n`);
  console.log(`\nwrote ${resultsFile}`);
  await stopWatchdog();
}

await main();
