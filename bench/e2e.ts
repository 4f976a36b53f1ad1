/**
 * End-to-end benchmark, the hot path: signed Stripe-style webhooks (1 KB bodies) whose integration makes 3 sequential
 * POSTs to a local API through a connection (audit on), side by side in one run against the floor:
 *
 *   bare      a bare node:http forwarder: acknowledges, then makes the same 3 POSTs with undici, storing nothing
 *   sqlite    Tenon on SQLite (synchronous FULL), as `tenon start` runs it (worker on, its defaults)
 *   postgres  Tenon on PostgreSQL, the same
 *
 * Each server runs in its own process (bench/e2e-server.ts), and so do the counting sink the POSTs go to
 * (bench/e2e-sink.ts) and the load generator (bench/ingest-load.ts, autocannon), so none shares another's event loop.
 *
 *   npm run bench:e2e                                # 50 connections, 2 s warm-up, 10 s measured, per target
 *   BENCH_DURATION_S=3 BENCH_ONLY=bare,sqlite npm run bench:e2e
 *
 * Knobs (environment):
 *   BENCH_DURATION_S          measured seconds of load per target (default 10)
 *   BENCH_WARMUP_S            warm-up seconds of load per target, not measured (default 2)
 *   BENCH_CONNECTIONS         concurrent connections (default 50)
 *   BENCH_SUSTAINED_S         seconds of the sustained load that follows, per target (default: BENCH_DURATION_S; 0: none)
 *   BENCH_SUSTAINED_RATE      its requests per second (default: 80% of the runs/s the target completed under the
 *                             saturating load, so each target carries a load it can keep up with)
 *   BENCH_BODY_BYTES          webhook body size (default 1024)
 *   BENCH_ONLY                comma-separated subset of bare,sqlite,postgres (default all three)
 *   BENCH_DRAIN_TIMEOUT_S     how long to wait, once the load stopped, for every acknowledged webhook's 3 POSTs
 *                             (default 120); a drain that does not finish fails the run
 *   BENCH_CONCURRENCY         runs in progress at once: Tenon's worker concurrency and the bare forwarder's connections
 *                             to the sink (default: the worker's default, 100)
 *   BENCH_TRACE               1: each Tenon server times every storage call (bench/storage-trace.ts); a table per
 *                             target is printed (calls, batch sizes, time to settle)
 *   BENCH_CPU_PROF            1: each server runs with --cpu-prof; the .cpuprofile files are kept in a temp dir
 *   BENCH_HEAP_PROF           a directory: each server samples every allocation of its life and writes
 *                             <target>.heapprofile there (Chrome DevTools opens it)
 *   TENON_BENCH_DATABASE_URL  PostgreSQL URL (default postgres://postgres@127.0.0.1:5432/test); a fresh schema
 *                             bench_e2e_<random> is used and dropped at the end
 *
 * What is measured, per target:
 *   ingest req/s     2xx answers of the measured load over its duration; ack latency p50/p99 as bench:ingest times it
 *   runs/s           runs completed (an event's 3rd POST reached the sink) from the start of the measured load until
 *                    the sink has all 3 POSTs of every acknowledged webhook, over that time: a backlog is paid for
 *   CPU per run      user + system CPU of the server process over that same time, per run completed in it
 *   peak RSS         the server process's high-water mark (VmHWM)
 *   ingest ahead     acknowledged − completed when the load stops, as a share of acknowledged (since the start)
 * The measured load is closed-loop: each connection sends its next webhook as soon as the last is answered, so ingest
 * runs as fast as the server acknowledges and any durable queue builds a backlog (the bare forwarder's too, in
 * memory). Once that backlog is drained, a sustained load follows at a steady rate below the target's capacity
 * (open loop: one request every 1/rate s, bench/ingest-load.ts): its ack latency, whether completion keeps up (ingest
 * ahead at its end) and CPU per run.
 * and nothing lost or doubled: after the drain, every acknowledged webhook (for Tenon: every stored event, a superset)
 * has exactly 3 POSTs at the sink, the sink saw none for anything else, and no idempotency key twice.
 *
 * Writes bench/results/e2e.json: [{ name, value, unit }].
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { countEnv, intEnv } from "./bench-env.ts";
import { type Child, cpuSeconds, peakRssMiB, spawnScript, stopChild } from "./bench-process.ts";
import { type RunAnatomy, runAnatomyPostgres, runAnatomySqlite } from "./e2e-run-anatomy.ts";
import { epochMs, type SinkCheck, type SinkStats } from "./e2e-sink.ts";
import { type LoadPlan, type LoadResult, signedStripeWebhook } from "./ingest-load.ts";
import { type CallStats, printTrace } from "./storage-trace.ts";
import { dropSchema, readStoredPostgres, readStoredSqlite, type Stored } from "./stored-events.ts";

interface Metric {
  name: string;
  value: number;
  unit: string;
}

type TargetName = "bare" | "sqlite" | "postgres";

/** How late the server's event loop ran, as bench/e2e-server.ts reports it at exit. */
interface LoopDelay {
  p50: number;
  p99: number;
  max: number;
}

interface Target {
  name: TargetName;
  title: string;
}

interface Check {
  ok: boolean;
  line: string;
}

const targets: Target[] = [
  { name: "bare", title: "bare node:http forwarder (3 undici POSTs, nothing durable)" },
  { name: "sqlite", title: "Tenon on SQLite (synchronous FULL), worker on, audit on" },
  { name: "postgres", title: "Tenon on PostgreSQL, worker on, audit on" },
];

const durationS = intEnv("BENCH_DURATION_S", 10);
const warmupS = intEnv("BENCH_WARMUP_S", 2);
const connections = intEnv("BENCH_CONNECTIONS", 50);
const sustainedS = countEnv("BENCH_SUSTAINED_S", durationS);
const sustainedRate = process.env.BENCH_SUSTAINED_RATE ? intEnv("BENCH_SUSTAINED_RATE", 0) : undefined;
const bodyBytes = intEnv("BENCH_BODY_BYTES", 1024);
const drainTimeoutMs = intEnv("BENCH_DRAIN_TIMEOUT_S", 120) * 1000;
const only = parseOnly(process.env.BENCH_ONLY);
const cpuProfile = process.env.BENCH_CPU_PROF === "1";
const trace = process.env.BENCH_TRACE === "1";
const databaseUrl = process.env.TENON_BENCH_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const secret = `whsec_bench_${randomBytes(16).toString("hex")}`;
const sinkToken = `bench-sink-${randomBytes(16).toString("hex")}`;
const source = "stripe";
const benchDir = dirname(fileURLToPath(import.meta.url));
const resultsFile = join(benchDir, "results", "e2e.json");
/** How often the sink is asked whether the drain is over: the drain's end is the sink's own timestamp, not this. */
const drainPollMs = 100;

function parseOnly(raw: string | undefined): Set<TargetName> {
  const names = (raw ?? "bare,sqlite,postgres").split(",").map((s) => s.trim());
  const unknown = names.filter((name) => !targets.some((t) => t.name === name));
  if (unknown.length > 0) {
    throw new Error(
      `BENCH_ONLY takes a comma-separated subset of bare,sqlite,postgres; unknown: ${unknown.join(", ")}`,
    );
  }
  return new Set(names as TargetName[]);
}

// ---------------------------------------------------------------------------------------------------------------
// The sink's control routes

async function sinkStats(sinkUrl: string): Promise<SinkStats> {
  const response = await fetch(`${sinkUrl}/_sink/stats`);
  return (await response.json()) as SinkStats;
}

async function sinkPost<T>(sinkUrl: string, method: "PUT" | "POST", path: string, ids: string[]): Promise<T> {
  const response = await fetch(`${sinkUrl}${path}`, {
    method,
    headers: { "content-type": "application/json" },
    body: JSON.stringify(ids),
  });
  if (response.status !== 200)
    throw new Error(`${method} ${path} was answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as T;
}

/** Polls the sink until `done` holds; resolves with the last stats and whether `done` held before the timeout. */
async function waitForSink(
  sinkUrl: string,
  done: (stats: SinkStats) => boolean,
  timeoutMs: number,
): Promise<{ stats: SinkStats; done: boolean }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const stats = await sinkStats(sinkUrl);
    if (done(stats)) return { stats, done: true };
    if (Date.now() >= deadline) return { stats, done: false };
    await new Promise((resolve) => setTimeout(resolve, drainPollMs));
  }
}

// ---------------------------------------------------------------------------------------------------------------
// One target

/** Sends one signed webhook and fails loudly unless it is answered 200: a benchmark of 401s measures nothing. */
async function verifySignedRequest(url: string, eventId: string): Promise<void> {
  const { body, signature } = signedStripeWebhook(eventId, secret, bodyBytes);
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", "stripe-signature": signature },
    body,
  });
  const text = await response.text();
  if (response.status !== 200) {
    throw new Error(`a signed webhook to ${url} was answered ${response.status}, not 200: ${text}`);
  }
}

/** A moment of the run: when, the server's CPU seconds so far, and the sink's counters. */
interface Sample {
  at: number;
  cpu: number | undefined;
  sinkCpu: number | undefined;
  stats: SinkStats;
}

async function sample(server: Child, sink: Child, sinkUrl: string): Promise<Sample> {
  const at = epochMs();
  const cpu = cpuSeconds(server.process.pid);
  const sinkCpu = cpuSeconds(sink.process.pid);
  return { at, cpu, sinkCpu, stats: await sinkStats(sinkUrl) };
}

/** The sustained load: a steady rate, after the saturating load's backlog was drained. */
interface Sustained {
  rate: number;
  result: LoadResult;
  start: Sample;
  end: Sample;
  drain: { stats: SinkStats; done: boolean };
  drainedCpu: number | undefined;
}

/**
 * Sends `plan` (a steady rate, no warm-up), adds what it acknowledged to `acked` and waits until the sink has all of
 * their POSTs.
 */
async function sustainedLoad(server: Child, sink: Child, sinkUrl: string, plan: LoadPlan, acked: string[]) {
  const { result, start, end } = await sendLoad(server, sink, sinkUrl, plan);
  acked.push(...result.measured.ackedIds.map((n) => `${plan.idPrefix}${n}`));
  const drain = await waitForDrain(sinkUrl, acked);
  const sustained: Sustained = {
    rate: plan.rate ?? 0,
    result,
    start,
    end,
    drain,
    drainedCpu: cpuSeconds(server.process.pid),
  };
  return sustained;
}

/** Runs the load generator with `plan`; the server and sink are sampled when its measured phase starts and ends. */
async function sendLoad(server: Child, sink: Child, sinkUrl: string, plan: LoadPlan) {
  const load = spawnScript("ingest-load.ts", [JSON.stringify(plan)], {});
  const loadTimeoutMs = (plan.warmupS + plan.durationS) * 1000 + 60_000;
  await load.next(loadTimeoutMs); // {"phase":"measured"}
  const start = await sample(server, sink, sinkUrl);
  const result = (await load.next(loadTimeoutMs)) as unknown as LoadResult;
  const end = await sample(server, sink, sinkUrl);
  await load.exited;
  return { result, start, end };
}

/** The drain: until every acknowledged webhook has its 3 POSTs (and no event is left half-forwarded). */
async function waitForDrain(sinkUrl: string, acked: string[]): Promise<{ stats: SinkStats; done: boolean }> {
  await sinkPost<SinkStats>(sinkUrl, "PUT", "/_sink/expected", acked);
  return waitForSink(sinkUrl, (s) => s.expectedPending === 0 && s.partial === 0, drainTimeoutMs);
}

function sustainedMetrics(label: string, s: Sustained): Metric[] {
  const m = s.result.measured;
  const completedUnderLoad = s.end.stats.complete - s.start.stats.complete;
  const completed = s.drain.stats.complete - s.start.stats.complete;
  const backlog = Math.max(0, m.status2xx - completedUnderLoad);
  const spanS = ((s.drain.stats.lastCompletedAt ?? s.end.at) - s.start.at) / 1000;
  const metrics: Metric[] = [
    { name: `${label}.sustained.rate`, value: s.rate, unit: "req/s" },
    { name: `${label}.sustained.req_per_s`, value: m.status2xx / m.durationS, unit: "req/s" },
    { name: `${label}.sustained.ack_latency_p50`, value: m.latencyMs.p50, unit: "ms" },
    { name: `${label}.sustained.ack_latency_p99`, value: m.latencyMs.p99, unit: "ms" },
    { name: `${label}.sustained.ack_latency_max`, value: m.latencyMs.max, unit: "ms" },
    { name: `${label}.sustained.runs_per_s`, value: completed / spanS, unit: "runs/s" },
    { name: `${label}.sustained.backlog_at_load_end`, value: backlog, unit: "runs" },
    { name: `${label}.sustained.errors`, value: m.errors, unit: "errors" },
    {
      name: `${label}.sustained.ingest_ahead_of_completion`,
      value: m.status2xx > 0 ? (100 * backlog) / m.status2xx : 0,
      unit: "%",
    },
  ];
  if (s.start.cpu !== undefined && s.drainedCpu !== undefined) {
    metrics.push({
      name: `${label}.sustained.cpu_per_run`,
      value: (1000 * (s.drainedCpu - s.start.cpu)) / completed,
      unit: "ms",
    });
  }
  return metrics;
}

async function benchTarget(target: Target): Promise<{ metrics: Metric[]; checks: Check[]; notes: string[] }> {
  const dir = mkdtempSync(join(tmpdir(), "tenon-bench-e2e-"));
  const schema = `bench_e2e_${randomBytes(4).toString("hex")}`;
  const sqlitePath = join(dir, "tenon.db");
  const sink = spawnScript("e2e-sink.ts", [], {});
  let server: Child | undefined;
  try {
    const { url: sinkUrl } = (await sink.next(30_000)) as { url: string };
    const env: Record<string, string> = {
      BENCH_E2E_SECRET: secret,
      BENCH_E2E_SINK_URL: sinkUrl,
      BENCH_E2E_SINK_TOKEN: sinkToken,
      BENCH_E2E_SQLITE_PATH: sqlitePath,
      BENCH_E2E_DATABASE_URL: databaseUrl,
      BENCH_E2E_PG_SCHEMA: schema,
      BENCH_TRACE: trace ? "1" : "0",
    };
    if (process.env.BENCH_HEAP_PROF) {
      mkdirSync(process.env.BENCH_HEAP_PROF, { recursive: true });
      env.BENCH_HEAP_PROF = process.env.BENCH_HEAP_PROF;
    }
    if (process.env.BENCH_CONCURRENCY) env.BENCH_E2E_CONCURRENCY = String(intEnv("BENCH_CONCURRENCY", 100));
    const nodeArgs = cpuProfile ? ["--cpu-prof", `--cpu-prof-dir=${join(dir, "profiles")}`] : [];
    server = spawnScript("e2e-server.ts", [target.name], env, nodeArgs);
    const { url: base } = (await server.next(60_000)) as { url: string };
    // The bare forwarder answers any path; it gets the very same requests.
    const url = `${base}/hooks/${source}`;

    // One webhook first, forwarded all the way: a benchmark of failures measures nothing.
    const verifyId = `evt_verify_${target.name}`;
    await verifySignedRequest(url, verifyId);
    const verified = await waitForSink(sinkUrl, (s) => s.complete >= 1, 30_000);
    if (!verified.done || verified.stats.withoutKey > 0) {
      throw new Error(
        `the verification webhook did not reach the sink as 3 POSTs with idempotency keys within 30 s: ${JSON.stringify(verified.stats)}`,
      );
    }

    const idPrefix = `evt_${target.name}_`;
    const plan: LoadPlan = { url, secret, connections, warmupS, durationS, bodyBytes, idPrefix };
    const { result, start, end } = await sendLoad(server, sink, sinkUrl, plan);
    const acked = [verifyId, ...[...result.warmup.ackedIds, ...result.measured.ackedIds].map((n) => `${idPrefix}${n}`)];
    const drain = await waitForDrain(sinkUrl, acked);
    const drainedCpu = cpuSeconds(server.process.pid);
    const drainedSinkCpu = cpuSeconds(sink.process.pid);
    const drainedAt = drain.stats.lastCompletedAt ?? end.at;
    const completed = drain.stats.complete - start.stats.complete;
    const spanS = (drainedAt - start.at) / 1000;

    let sustained: Sustained | undefined;
    if (sustainedS > 0 && drain.done) {
      const rate = sustainedRate ?? Math.max(1, Math.round((0.8 * completed) / spanS));
      const steady: LoadPlan = { ...plan, warmupS: 0, durationS: sustainedS, rate, idPrefix: `${idPrefix}s` };
      sustained = await sustainedLoad(server, sink, sinkUrl, steady, acked);
    }
    const peakRss = peakRssMiB(server.process.pid);

    const cleanStop = await stopChild(server, 30_000);
    const exitLine = cleanStop ? await server.next(1000).catch(() => undefined) : undefined;
    const exit = exitLine?.exit as { forwardErrors?: number; eventLoopDelayMs?: LoopDelay } | undefined;
    const traceLine =
      trace && target.name !== "bare" && cleanStop ? await server.next(1000).catch(() => undefined) : undefined;
    const forwardErrors = exit?.forwardErrors;
    let stored: Stored | undefined;
    if (target.name === "sqlite") stored = readStoredSqlite(sqlitePath, source);
    if (target.name === "postgres") stored = await readStoredPostgres(databaseUrl, schema, source);
    let anatomy: RunAnatomy | undefined;
    if (target.name === "sqlite") anatomy = runAnatomySqlite(sqlitePath);
    if (target.name === "postgres") anatomy = await runAnatomyPostgres(databaseUrl, schema);
    // For Tenon, every stored event must have been forwarded, acknowledged or not (one in flight when autocannon
    // closed its connections was still committed); the bare forwarder stores nothing to check against.
    const check = await sinkPost<SinkCheck>(sinkUrl, "POST", "/_sink/check", stored ? [...stored.eventIds] : acked);

    const m = result.measured;
    const acceptedAtEnd = 1 + result.warmup.status2xx + m.status2xx;
    const acceptedAtStart = 1 + result.warmup.status2xx;
    const backlogAtEnd = Math.max(0, acceptedAtEnd - end.stats.complete);
    const backlogAtStart = Math.max(0, acceptedAtStart - start.stats.complete);
    const label = target.name;
    const metrics: Metric[] = [
      { name: `${label}.req_per_s`, value: m.status2xx / m.durationS, unit: "req/s" },
      { name: `${label}.ack_latency_p50`, value: m.latencyMs.p50, unit: "ms" },
      { name: `${label}.ack_latency_p99`, value: m.latencyMs.p99, unit: "ms" },
      { name: `${label}.ack_latency_max`, value: m.latencyMs.max, unit: "ms" },
      { name: `${label}.runs_per_s`, value: completed / spanS, unit: "runs/s" },
      {
        name: `${label}.runs_per_s_under_load`,
        value: (end.stats.complete - start.stats.complete) / ((end.at - start.at) / 1000),
        unit: "runs/s",
      },
      { name: `${label}.runs_completed`, value: completed, unit: "runs" },
      { name: `${label}.ingest_ahead_of_completion`, value: (100 * backlogAtEnd) / acceptedAtEnd, unit: "%" },
      { name: `${label}.backlog_at_load_end`, value: backlogAtEnd, unit: "runs" },
      { name: `${label}.backlog_growth`, value: backlogAtEnd - backlogAtStart, unit: "runs" },
      { name: `${label}.drain_time`, value: Math.max(0, drainedAt - end.at) / 1000, unit: "s" },
      { name: `${label}.acked`, value: acked.length, unit: "responses" },
      { name: `${label}.responses_non_2xx`, value: m.non2xx + result.warmup.non2xx, unit: "responses" },
      {
        name: `${label}.errors`,
        value: m.errors + m.timeouts + result.warmup.errors + result.warmup.timeouts,
        unit: "errors",
      },
      { name: `${label}.sink_posts`, value: drain.stats.posts, unit: "requests" },
    ];
    if (start.cpu !== undefined && drainedCpu !== undefined) {
      const cpuS = drainedCpu - start.cpu;
      metrics.push(
        { name: `${label}.cpu_per_run`, value: (1000 * cpuS) / completed, unit: "ms" },
        { name: `${label}.server_cpu`, value: (100 * cpuS) / spanS, unit: "% of a core" },
      );
    }
    if (start.sinkCpu !== undefined && drainedSinkCpu !== undefined) {
      metrics.push({
        name: `${label}.sink_cpu`,
        value: (100 * (drainedSinkCpu - start.sinkCpu)) / spanS,
        unit: "% of a core",
      });
    }
    if (peakRss !== undefined) metrics.push({ name: `${label}.peak_rss`, value: peakRss, unit: "MiB" });
    if (sustained) metrics.push(...sustainedMetrics(label, sustained));

    const ackedNotStored = stored ? acked.filter((id) => !stored.eventIds.has(id)).length : 0;
    // A failed forward of the bare forwarder shows as an acknowledged webhook with fewer than 3 POSTs.
    const lost = ackedNotStored + check.missing.count + check.partial.count;
    const doubled = check.over.count + check.repeatedKeys.count;
    metrics.push(
      { name: `${label}.lost`, value: lost, unit: "runs" },
      { name: `${label}.doubled`, value: doubled, unit: "deliveries" },
    );
    const non2xx = m.non2xx + result.warmup.non2xx + (sustained?.result.measured.non2xx ?? 0);
    const lastDrain = sustained?.drain ?? drain;
    const checks = verdicts(target, {
      non2xx,
      acked,
      drain: lastDrain,
      check,
      stored,
      ackedNotStored,
      forwardErrors,
      cleanStop,
    });
    const notes = cpuProfile ? [`CPU profiles: ${join(dir, "profiles")}`] : [];
    if (traceLine && "trace" in traceLine) printTrace(target.title, traceLine.trace as Record<string, CallStats>);
    const loop = exit?.eventLoopDelayMs;
    if (loop) {
      metrics.push(
        { name: `${label}.event_loop_delay_p50`, value: loop.p50, unit: "ms" },
        { name: `${label}.event_loop_delay_p99`, value: loop.p99, unit: "ms" },
        { name: `${label}.event_loop_delay_max`, value: loop.max, unit: "ms" },
      );
      notes.push(
        `the server's event loop ran late by p50 ${loop.p50.toFixed(1)} ms, p99 ${loop.p99.toFixed(1)} ms, max ${loop.max.toFixed(1)} ms (over its life)`,
      );
    }
    if (anatomy) {
      metrics.push(...anatomyMetrics(label, anatomy));
      notes.push(anatomyLine(anatomy));
    }
    return { metrics, checks, notes };
  } finally {
    if (server) await stopChild(server, 30_000);
    await stopChild(sink, 10_000);
    if (!cpuProfile) rmSync(dir, { recursive: true, force: true });
    if (target.name === "postgres") await dropSchema(databaseUrl, schema);
  }
}

function anatomyMetrics(label: string, a: RunAnatomy): Metric[] {
  return [
    { name: `${label}.run_queued`, value: a.queuedMs, unit: "ms" },
    { name: `${label}.run_claim_to_first_step`, value: a.claimToFirstStepMs, unit: "ms" },
    { name: `${label}.run_step`, value: a.stepMs, unit: "ms" },
    { name: `${label}.run_between_steps`, value: a.betweenStepsMs, unit: "ms" },
    { name: `${label}.run_last_step_to_finish`, value: a.lastStepToFinishMs, unit: "ms" },
    { name: `${label}.run_executing`, value: a.executingMs, unit: "ms" },
  ];
}

/** Where a run's time went (bench/e2e-run-anatomy.ts), in one line. */
function anatomyLine(a: RunAnatomy): string {
  const ms = (value: number) => `${value.toFixed(1)} ms`;
  return (
    `a run's time (means of ${a.runs.toLocaleString("en-US")}): queued ${ms(a.queuedMs)}; executing ${ms(a.executingMs)} = ` +
    `claim to step 1 ${ms(a.claimToFirstStepMs)} + 3 steps of ${ms(a.stepMs)} + 2 gaps between steps of ` +
    `${ms(a.betweenStepsMs)} + last step to finish ${ms(a.lastStepToFinishMs)}`
  );
}

function verdicts(
  target: Target,
  seen: {
    non2xx: number;
    acked: string[];
    drain: { stats: SinkStats; done: boolean };
    check: SinkCheck;
    stored: Stored | undefined;
    ackedNotStored: number;
    forwardErrors: number | undefined;
    cleanStop: boolean;
  },
): Check[] {
  // A request in flight when autocannon closed its connections, one per connection in its warm-up and measured
  // phases; the sustained load waits for every answer.
  const allowance = 2 * connections;
  const { non2xx, acked, drain, check, stored } = seen;
  const n = (value: number) => value.toLocaleString("en-US");
  const sample = (kind: { count: number; sample: string[] }) =>
    kind.count === 0
      ? "0"
      : `${n(kind.count)} (${kind.sample.join(", ")}${kind.count > kind.sample.length ? ", …" : ""})`;
  const checks: Check[] = [
    { ok: non2xx === 0, line: `non-2xx answers: ${n(non2xx)}` },
    {
      ok: drain.done,
      line: drain.done
        ? `drained: every one of the ${n(acked.length)} acknowledged webhooks has its 3 POSTs at the sink`
        : `NOT drained within ${drainTimeoutMs / 1000} s: ${n(drain.stats.expectedPending)} acknowledged webhooks without their 3 POSTs, ${n(drain.stats.partial)} half-forwarded`,
    },
    {
      ok: check.missing.count === 0 && check.partial.count === 0 && check.over.count === 0,
      line:
        `${stored ? "stored events" : "acknowledged webhooks"} with exactly 3 POSTs: ${n(check.exactlyThree)} of ${n(check.checked)}; ` +
        `none: ${sample(check.missing)}; 1–2: ${sample(check.partial)}; more than 3: ${sample(check.over)}`,
    },
    {
      ok: check.repeatedKeys.count === 0 && drain.stats.withoutKey === 0,
      line: `idempotency keys seen twice at the sink: ${sample(check.repeatedKeys)}; POSTs without a key: ${n(drain.stats.withoutKey)}`,
    },
  ];
  if (stored) {
    const runs = Object.entries(stored.runs)
      .map(([status, count]) => `${status} ${n(count)}`)
      .join(", ");
    const succeeded = stored.runs.succeeded ?? 0;
    const allSucceeded = succeeded === stored.eventIds.size && Object.keys(stored.runs).length === 1;
    checks.push(
      {
        ok: seen.ackedNotStored === 0,
        line: `acknowledged but not stored: ${n(seen.ackedNotStored)} of ${n(acked.length)}`,
      },
      {
        // Requests in flight when autocannon closed its connections at the end of a phase, which the server still
        // committed and forwarded: at most one per connection per phase.
        ok: stored.eventIds.size - (acked.length - seen.ackedNotStored) <= allowance && check.notListed.count === 0,
        line:
          `stored without a counted answer: ${n(stored.eventIds.size - (acked.length - seen.ackedNotStored))} (≤ ${allowance} expected); ` +
          `POSTed for an event not stored: ${sample(check.notListed)}`,
      },
      {
        ok: allSucceeded,
        line: `runs after the server stopped: ${runs || "none"} (all ${n(stored.eventIds.size)} succeeded expected)`,
      },
    );
  } else {
    checks.push(
      {
        ok: check.notListed.count <= allowance,
        line: `POSTed for a webhook without a counted answer: ${n(check.notListed.count)} (in flight when autocannon closed its connections; ≤ ${allowance} expected)`,
      },
      {
        ok: seen.forwardErrors === 0,
        line: `forwards that failed: ${seen.forwardErrors ?? "unknown (the forwarder did not stop cleanly)"}`,
      },
    );
  }
  if (!seen.cleanStop)
    checks.push({ ok: false, line: `the ${target.name} server did not stop cleanly within 30 s (killed)` });
  return checks;
}

// ---------------------------------------------------------------------------------------------------------------
// Report

function format(value: number | undefined): string {
  if (value === undefined) return "–";
  if (!Number.isFinite(value)) return String(value);
  if (Number.isInteger(value)) return value.toLocaleString("en-US");
  return value.toLocaleString("en-US", { maximumFractionDigits: Math.abs(value) >= 100 ? 0 : 2 });
}

function addRatiosToBare(metrics: Metric[], ran: Target[]): void {
  const value = (name: string) => metrics.find((m) => m.name === name)?.value;
  for (const target of ran) {
    if (target.name === "bare") continue;
    for (const metric of ["runs_per_s", "req_per_s", "cpu_per_run", "ack_latency_p99"]) {
      const mine = value(`${target.name}.${metric}`);
      const bare = value(`bare.${metric}`);
      if (mine !== undefined && bare !== undefined) {
        metrics.push({ name: `${target.name}.${metric}_ratio_to_bare`, value: mine / bare, unit: "x" });
      }
    }
  }
}

type Column = [title: string, metric: string, width: number];

/** One row per target that has figures under `prefix` (`<target>.<prefix><metric>`). */
function printTable(metrics: Metric[], ran: Target[], title: string, prefix: string, columns: Column[]): void {
  const value = (name: string) => metrics.find((m) => m.name === name)?.value;
  const rows = ran.filter((t) => columns.some(([, metric]) => value(`${t.name}.${prefix}${metric}`) !== undefined));
  if (rows.length === 0) return;
  const header = `${title.padEnd(9)} ${columns.map(([heading, , width]) => heading.padStart(width)).join(" ")}`;
  console.log(`\n${header}\n${"-".repeat(header.length)}`);
  for (const target of rows) {
    const cells = columns.map(([, metric, width]) =>
      format(value(`${target.name}.${prefix}${metric}`)).padStart(width),
    );
    console.log(`${target.name.padEnd(9)} ${cells.join(" ")}`);
  }
}

function printSummary(metrics: Metric[], ran: Target[]): void {
  printTable(metrics, ran, "target", "", [
    ["ingest/s", "req_per_s", 8],
    ["p50 ms", "ack_latency_p50", 7],
    ["p99 ms", "ack_latency_p99", 7],
    ["runs/s", "runs_per_s", 7],
    ["×bare", "runs_per_s_ratio_to_bare", 6],
    ["load r/s", "runs_per_s_under_load", 8],
    ["CPU ms/run", "cpu_per_run", 10],
    ["srv CPU%", "server_cpu", 8],
    ["RSS MiB", "peak_rss", 7],
    ["ahead %", "ingest_ahead_of_completion", 7],
    ["drain s", "drain_time", 7],
    ["lost", "lost", 5],
    ["doubled", "doubled", 7],
  ]);
  printTable(metrics, ran, "sustained", "sustained.", [
    ["rate/s", "rate", 7],
    ["ingest/s", "req_per_s", 8],
    ["p50 ms", "ack_latency_p50", 7],
    ["p99 ms", "ack_latency_p99", 7],
    ["max ms", "ack_latency_max", 7],
    ["runs/s", "runs_per_s", 7],
    ["CPU ms/run", "cpu_per_run", 10],
    ["ahead %", "ingest_ahead_of_completion", 7],
    ["backlog", "backlog_at_load_end", 7],
  ]);
}

/** The targets of issue 18 (docs/benchmarks.md): MISS is a figure, not a failure of the run. */
function printTargets(metrics: Metric[]): void {
  const value = (name: string) => metrics.find((m) => m.name === name)?.value;
  const line = (ok: boolean, text: string) => console.log(`  ${ok ? "PASS" : "MISS"} ${text}`);
  console.log("\nTargets:");
  const sqliteRatio = value("sqlite.runs_per_s_ratio_to_bare");
  if (sqliteRatio !== undefined)
    line(sqliteRatio >= 0.5, `SQLite completed runs/s ≥ 0.5× bare: ${sqliteRatio.toFixed(2)}×`);
  const cpu = value("sqlite.cpu_per_run");
  if (cpu !== undefined) line(cpu <= 0.5, `SQLite CPU ≤ 0.5 ms per 3-step run: ${format(cpu)} ms`);
  const p99 = value("sqlite.ack_latency_p99");
  if (p99 !== undefined) line(p99 <= 25, `SQLite ack p99 ≤ 25 ms, saturating load: ${format(p99)} ms`);
  const ahead = value("sqlite.ingest_ahead_of_completion");
  if (ahead !== undefined)
    line(ahead <= 10, `SQLite ingest ≤ 10% ahead of completion at the saturating load's end: ${format(ahead)}%`);
  const rate = value("sqlite.sustained.rate");
  const steadyP99 = value("sqlite.sustained.ack_latency_p99");
  if (rate !== undefined && steadyP99 !== undefined)
    line(steadyP99 <= 25, `SQLite ack p99 ≤ 25 ms, sustained ${format(rate)} req/s: ${format(steadyP99)} ms`);
  const steadyAhead = value("sqlite.sustained.ingest_ahead_of_completion");
  if (rate !== undefined && steadyAhead !== undefined)
    line(
      steadyAhead <= 10,
      `SQLite ingest ≤ 10% ahead of completion, sustained ${format(rate)} req/s: ${format(steadyAhead)}%`,
    );
  const pgRatio = value("postgres.runs_per_s_ratio_to_bare");
  if (pgRatio !== undefined) line(pgRatio >= 0.35, `PostgreSQL completed runs/s ≥ 0.35× bare: ${pgRatio.toFixed(2)}×`);
}

async function main(): Promise<void> {
  const ran = targets.filter((t) => only.has(t.name));
  console.log(
    `Tenon end-to-end bench: signed Stripe webhooks, ${bodyBytes} B bodies, ${connections} connections, ` +
      `${warmupS} s warm-up + ${durationS} s measured per target; each webhook → 3 sequential POSTs to a counting sink; ` +
      "servers, sink and load generator in separate processes",
  );
  const [loadAtStart] = loadavg();
  console.log(`load average (1 min) at start: ${format(loadAtStart)}`);
  const metrics: Metric[] = [
    { name: "load.connections", value: connections, unit: "connections" },
    { name: "load.body_bytes", value: bodyBytes, unit: "bytes" },
    { name: "load.warmup", value: warmupS, unit: "s" },
    { name: "load.duration", value: durationS, unit: "s" },
    { name: "machine.load_average_1m_at_start", value: loadAtStart ?? 0, unit: "processes" },
  ];
  let failed = false;
  for (const target of ran) {
    console.log(`- ${target.title}…`);
    const outcome = await benchTarget(target);
    metrics.push(...outcome.metrics);
    for (const check of outcome.checks) console.log(`  ${check.ok ? "PASS" : "FAIL"} ${check.line}`);
    for (const note of outcome.notes) console.log(`  ${note}`);
    if (outcome.checks.some((c) => !c.ok)) failed = true;
  }
  metrics.push({ name: "machine.load_average_1m_at_end", value: loadavg()[0] ?? 0, unit: "processes" });
  addRatiosToBare(metrics, ran);
  printSummary(metrics, ran);
  printTargets(metrics);
  console.log(
    "\ningest/s counts the 2xx answers of the measured load over its duration; p50/p99 are their ack latencies as the" +
      "\nload generator times them. runs/s: runs completed (3rd POST at the sink) from the start of the measured load" +
      "\nuntil every acknowledged webhook had its 3 POSTs, over that time; load r/s: the same while the load lasted." +
      "\nCPU ms/run and srv CPU%: the server process's user + system time over that span. ahead %: acknowledged but not" +
      "\ncompleted when the load stopped, of all acknowledged. That load is closed-loop (each connection sends again as" +
      "\nsoon as it is answered): it saturates the machine, and every target's backlog grows, the bare forwarder's too." +
      "\nsustained: once that backlog is drained, a steady rate (default 80% of the target's runs/s above) for" +
      `\n${sustainedS} s; ahead % and backlog are taken when it stops, runs/s and CPU ms/run until it drained.` +
      "\n2 cores in all, shared by the server, the sink, the load generator and PostgreSQL: compare figures of one run only.",
  );

  mkdirSync(dirname(resultsFile), { recursive: true });
  writeFileSync(resultsFile, `${JSON.stringify(metrics, null, 2)}\n`);
  console.log(`\nwrote ${resultsFile}`);
  if (failed) {
    console.log("\nFAILED: a check above did not hold (something was lost, doubled or not answered 2xx)");
    process.exitCode = 1;
  }
}

await main();
