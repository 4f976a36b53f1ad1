/**
 * Webhook ingestion benchmark: signed Stripe-style webhooks (1 KB bodies) against a bare node:http server, Tenon on
 * SQLite (worker on, then accept-only), and Tenon on PostgreSQL. Each server runs in its own process
 * (bench/ingest-server.ts), and so does the load generator (bench/ingest-load.ts, autocannon), so neither shares the
 * other's event loop.
 *
 *   npm run bench:ingest                                   # 50 connections, 2 s warm-up, 10 s measured, per target
 *   BENCH_DURATION_S=3 BENCH_ONLY=bare,sqlite npm run bench:ingest
 *
 * Knobs (environment):
 *   BENCH_DURATION_S           measured seconds per target (default 10)
 *   BENCH_WARMUP_S             warm-up seconds per target, not measured (default 2)
 *   BENCH_CONNECTIONS          concurrent connections (default 50)
 *   BENCH_BODY_BYTES           request body size (default 1024)
 *   BENCH_ONLY                 comma-separated subset of bare,sqlite,sqlite_ingest_only,postgres (default all), and
 *                              sqlite_metrics_off,postgres_metrics_off (the same with the instrumentation off)
 *   BENCH_INSTRUMENTATION      "compare": also runs each Tenon target with worker on with the instrumentation off, just
 *                              before it, and prints the ratio on/off (the *_metrics_off targets join the default set)
 *   BENCH_TRACE                1: each Tenon server times every storage call; a table per target is printed
 *   BENCH_CPU_PROF             1: each server runs with --cpu-prof; the .cpuprofile files are kept in a temp dir
 *   TENON_BENCH_DATABASE_URL   PostgreSQL URL (default postgres://postgres@127.0.0.1:5432/test); a fresh schema
 *                              bench_ingest_<random> is used and dropped at the end
 *
 * Every 2xx must be durable: after each Tenon server has stopped, the events stored for the source are read back and
 * every event id answered 2xx must be among them.
 *
 * Writes bench/results/ingest.json: [{ name, value, unit }].
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { intEnv } from "./bench-env.ts";
import { cpuSeconds, spawnScript, stopChild } from "./bench-process.ts";
import { type LoadPlan, type LoadResult, signedStripeWebhook } from "./ingest-load.ts";
import { type CallStats, printTrace } from "./storage-trace.ts";
import { dropSchema, readStoredPostgres, readStoredSqlite, type Stored } from "./stored-events.ts";

interface Metric {
  name: string;
  value: number;
  unit: string;
}

type TargetName = "bare" | "sqlite" | "sqlite_ingest_only" | "postgres" | "sqlite_metrics_off" | "postgres_metrics_off";

interface Target {
  name: TargetName;
  /** The metric prefix. */
  label: string;
  title: string;
  mode: "bare" | "sqlite" | "postgres";
  worker: boolean;
  /** false: Tenon's instrumentation off (metrics no-op), for the on/off comparison. Default on. */
  metrics?: boolean;
}

const targets: Target[] = [
  {
    name: "bare",
    label: "bare_http",
    title: "bare node:http (reads the body, answers 200)",
    mode: "bare",
    worker: false,
  },
  {
    name: "sqlite_metrics_off",
    label: "sqlite_metrics_off",
    title: "Tenon, SQLite (synchronous FULL), worker on, instrumentation off",
    mode: "sqlite",
    worker: true,
    metrics: false,
  },
  {
    name: "sqlite",
    label: "sqlite",
    title: "Tenon, SQLite (synchronous FULL), worker on",
    mode: "sqlite",
    worker: true,
  },
  {
    name: "sqlite_ingest_only",
    label: "sqlite_ingest_only",
    title: "Tenon, SQLite (synchronous FULL), worker: false",
    mode: "sqlite",
    worker: false,
  },
  {
    name: "postgres_metrics_off",
    label: "postgres_metrics_off",
    title: "Tenon, PostgreSQL, worker on, instrumentation off",
    mode: "postgres",
    worker: true,
    metrics: false,
  },
  { name: "postgres", label: "postgres", title: "Tenon, PostgreSQL, worker on", mode: "postgres", worker: true },
];
/** The instrumentation's cost: each pair run one after the other, off first. */
const instrumentationPairs = [
  ["sqlite", "sqlite_metrics_off"],
  ["postgres", "postgres_metrics_off"],
] as const;

const durationS = intEnv("BENCH_DURATION_S", 10);
const warmupS = intEnv("BENCH_WARMUP_S", 2);
const connections = intEnv("BENCH_CONNECTIONS", 50);
const bodyBytes = intEnv("BENCH_BODY_BYTES", 1024);
const compareInstrumentation = process.env.BENCH_INSTRUMENTATION === "compare";
const defaultTargets = targets.filter((t) => compareInstrumentation || t.metrics !== false).map((t) => t.name);
const only = new Set((process.env.BENCH_ONLY ?? defaultTargets.join(",")).split(",").map((s) => s.trim()));
const trace = process.env.BENCH_TRACE === "1";
const cpuProfile = process.env.BENCH_CPU_PROF === "1";
const databaseUrl = process.env.TENON_BENCH_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const secret = `whsec_bench_${randomBytes(16).toString("hex")}`;
const source = "stripe";
const benchDir = dirname(fileURLToPath(import.meta.url));
const resultsFile = join(benchDir, "results", "ingest.json");

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

async function benchTarget(target: Target): Promise<{ metrics: Metric[]; checks: string[]; ok: boolean }> {
  const dir = mkdtempSync(join(tmpdir(), "tenon-bench-ingest-"));
  const sqlitePath = join(dir, "tenon.db");
  const schema = `bench_ingest_${randomBytes(4).toString("hex")}`;
  const env: Record<string, string> = {
    BENCH_INGEST_SECRET: secret,
    BENCH_INGEST_WORKER: target.worker ? "on" : "off",
    BENCH_INGEST_METRICS: target.metrics === false ? "off" : "on",
    BENCH_INGEST_SQLITE_PATH: sqlitePath,
    BENCH_INGEST_DATABASE_URL: databaseUrl,
    BENCH_INGEST_PG_SCHEMA: schema,
    BENCH_TRACE: trace ? "1" : "0",
  };
  const nodeArgs = cpuProfile ? ["--cpu-prof", `--cpu-prof-dir=${join(dir, "profiles")}`] : [];
  const server = spawnScript("ingest-server.ts", [target.mode], env, nodeArgs);
  try {
    const { url: base } = (await server.next(60_000)) as { url: string };
    // The bare server answers any path; it gets the very same requests.
    const url = `${base}/hooks/${source}`;
    const verifyId = `evt_verify_${target.name}`;
    await verifySignedRequest(url, verifyId);

    const idPrefix = `evt_${target.name}_`;
    const plan: LoadPlan = { url, secret, connections, warmupS, durationS, bodyBytes, idPrefix };
    const load = spawnScript("ingest-load.ts", [JSON.stringify(plan)], {});
    const loadTimeoutMs = (warmupS + durationS) * 1000 + 60_000;
    await load.next(loadTimeoutMs); // {"phase":"measured"}
    const cpuAtStart = { server: cpuSeconds(server.process.pid), load: cpuSeconds(load.process.pid) };
    const result = (await load.next(loadTimeoutMs)) as unknown as LoadResult;
    const cpuAtEnd = { server: cpuSeconds(server.process.pid), load: cpuSeconds(load.process.pid) };
    await load.exited;

    const cleanStop = await stopChild(server, 30_000);
    const exitLine = cleanStop && trace && target.mode !== "bare" ? await server.next(1000).catch(() => null) : null;
    if (!cleanStop) console.log(`  ! the ${target.name} server did not stop cleanly within 30 s (killed)`);

    const m = result.measured;
    const metrics: Metric[] = [
      { name: `${target.label}.req_per_s`, value: m.responses / m.durationS, unit: "req/s" },
      { name: `${target.label}.latency_p50`, value: m.latencyMs.p50, unit: "ms" },
      { name: `${target.label}.latency_p99`, value: m.latencyMs.p99, unit: "ms" },
      { name: `${target.label}.latency_max`, value: m.latencyMs.max, unit: "ms" },
      { name: `${target.label}.latency_mean`, value: m.latencyMs.mean, unit: "ms" },
      { name: `${target.label}.responses`, value: m.responses, unit: "responses" },
      { name: `${target.label}.responses_2xx`, value: m.status2xx, unit: "responses" },
      { name: `${target.label}.responses_non_2xx`, value: m.non2xx, unit: "responses" },
      { name: `${target.label}.errors`, value: m.errors + m.timeouts, unit: "errors" },
    ];
    const measuredS = m.durationS;
    if (cpuAtStart.server !== undefined && cpuAtEnd.server !== undefined) {
      const cpuS = cpuAtEnd.server - cpuAtStart.server;
      metrics.push({ name: `${target.label}.server_cpu`, value: (100 * cpuS) / measuredS, unit: "% of a core" });
      // Steadier than req/s on a shared machine: what one request costs the server, whatever else runs.
      metrics.push({ name: `${target.label}.server_cpu_per_request`, value: (1e6 * cpuS) / m.responses, unit: "µs" });
    }
    if (cpuAtStart.load !== undefined && cpuAtEnd.load !== undefined) {
      const share = (100 * (cpuAtEnd.load - cpuAtStart.load)) / measuredS;
      metrics.push({ name: `${target.label}.load_generator_cpu`, value: share, unit: "% of a core" });
    }

    const checks: string[] = [];
    let ok = m.non2xx === 0 && result.warmup.non2xx === 0;
    if (target.mode !== "bare") {
      const stored =
        target.mode === "sqlite"
          ? readStoredSqlite(sqlitePath, source)
          : await readStoredPostgres(databaseUrl, schema, source);
      const durability = checkDurability(target, result, verifyId, stored);
      metrics.push(...durability.metrics);
      checks.push(...durability.lines);
      ok &&= durability.ok;
    }
    if (exitLine && "trace" in exitLine) printTrace(target.title, exitLine.trace as Record<string, CallStats>);
    if (cpuProfile) checks.push(`CPU profiles: ${join(dir, "profiles")}`);
    return { metrics, checks, ok };
  } finally {
    await stopChild(server, 30_000);
    if (!cpuProfile) rmSync(dir, { recursive: true, force: true });
    if (target.mode === "postgres") {
      await dropSchema(databaseUrl, schema);
    }
  }
}

/**
 * Every event answered 2xx (the verification request, the warm-up and the measured run) must be stored. A few events
 * may be stored without an answer having been counted: requests in flight when autocannon closed its connections at
 * the end of a phase (at most one per connection per phase), which the server still committed.
 */
function checkDurability(
  target: Target,
  result: LoadResult,
  verifyId: string,
  stored: Stored,
): { metrics: Metric[]; lines: string[]; ok: boolean } {
  const prefix = `evt_${target.name}_`;
  const acked = [verifyId, ...[...result.warmup.ackedIds, ...result.measured.ackedIds].map((n) => `${prefix}${n}`)];
  const counted2xx = 1 + result.warmup.status2xx + result.measured.status2xx;
  const ackedStored = acked.filter((id) => stored.eventIds.has(id)).length;
  const lost = acked.length - ackedStored;
  const unanswered = stored.eventIds.size - ackedStored;
  const inFlightBound = 2 * connections;
  const non2xx = result.warmup.non2xx + result.measured.non2xx;
  const errors = result.warmup.errors + result.warmup.timeouts + result.measured.errors + result.measured.timeouts;
  const ok = lost === 0 && ackedStored === counted2xx && acked.length === counted2xx && unanswered <= inFlightBound;
  const runs = Object.entries(stored.runs)
    .map(([status, n]) => `${status} ${n.toLocaleString("en-US")}`)
    .join(", ");
  const lines = [
    `2xx counted by autocannon (+1 verification): ${counted2xx.toLocaleString("en-US")}; ` +
      `events stored for "${source}": ${stored.eventIds.size.toLocaleString("en-US")}; ` +
      `2xx whose event is stored: ${ackedStored.toLocaleString("en-US")} → ${lost === 0 && ackedStored === counted2xx ? "equal" : `${lost} LOST`}`,
    `stored without a counted answer: ${unanswered} (requests in flight when autocannon closed its connections; ≤ ${inFlightBound} expected); ` +
      `non-2xx: ${non2xx}; socket errors/timeouts: ${errors}`,
    `runs after the server stopped: ${runs || "none"}`,
  ];
  const metrics: Metric[] = [
    { name: `${target.label}.events_stored`, value: stored.eventIds.size, unit: "events" },
    { name: `${target.label}.answered_2xx_total`, value: counted2xx, unit: "responses" },
    { name: `${target.label}.answered_2xx_not_stored`, value: lost, unit: "events" },
    { name: `${target.label}.stored_without_answer`, value: unanswered, unit: "events" },
    { name: `${target.label}.runs_succeeded_at_stop`, value: stored.runs.succeeded ?? 0, unit: "runs" },
  ];
  return { metrics, lines, ok };
}

// ---------------------------------------------------------------------------------------------------------------
// Report

function format(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (Number.isInteger(value)) return value.toLocaleString("en-US");
  return value.toLocaleString("en-US", { maximumFractionDigits: Math.abs(value) >= 100 ? 0 : 2 });
}

function addRatiosToBare(metrics: Metric[], labels: string[]): void {
  const value = (name: string) => metrics.find((m) => m.name === name)?.value;
  for (const label of labels) {
    if (label === "bare_http") continue;
    for (const [metric, unit] of [
      ["req_per_s", "x"],
      ["latency_p50", "x"],
      ["latency_p99", "x"],
      ["latency_max", "x"],
    ] as const) {
      const mine = value(`${label}.${metric}`);
      const bare = value(`bare_http.${metric}`);
      if (mine !== undefined && bare !== undefined) {
        metrics.push({ name: `${label}.${metric}_ratio_to_bare`, value: mine / bare, unit });
      }
    }
  }
}

function printSummary(metrics: Metric[], ran: Target[]): void {
  const value = (name: string) => metrics.find((m) => m.name === name)?.value;
  const cell = (name: string, width: number, suffix = "") => {
    const v = value(name);
    return (v === undefined ? "–" : `${format(v)}${suffix}`).padStart(width);
  };
  const header = `${"target".padEnd(20)} ${"req/s".padStart(8)} ${"×bare".padStart(6)} ${"p50 ms".padStart(7)} ${"×bare".padStart(6)} ${"p99 ms".padStart(7)} ${"×bare".padStart(6)} ${"max ms".padStart(7)} ${"×bare".padStart(6)} ${"non-2xx".padStart(7)} ${"srv CPU".padStart(8)} ${"µs CPU/req".padStart(10)} ${"load CPU".padStart(8)}`;
  console.log(`\n${header}\n${"-".repeat(header.length)}`);
  for (const t of ran) {
    const l = t.label;
    console.log(
      [
        l.padEnd(20),
        cell(`${l}.req_per_s`, 8),
        cell(`${l}.req_per_s_ratio_to_bare`, 6),
        cell(`${l}.latency_p50`, 7),
        cell(`${l}.latency_p50_ratio_to_bare`, 6),
        cell(`${l}.latency_p99`, 7),
        cell(`${l}.latency_p99_ratio_to_bare`, 6),
        cell(`${l}.latency_max`, 7),
        cell(`${l}.latency_max_ratio_to_bare`, 6),
        cell(`${l}.responses_non_2xx`, 7),
        cell(`${l}.server_cpu`, 7, "%"),
        cell(`${l}.server_cpu_per_request`, 10),
        cell(`${l}.load_generator_cpu`, 7, "%"),
      ].join(" "),
    );
  }
}

async function main(): Promise<void> {
  const ran = targets.filter((t) => only.has(t.name));
  console.log(
    `Tenon ingest bench: signed Stripe webhooks, ${bodyBytes} B bodies, ${connections} connections, ` +
      `${warmupS} s warm-up + ${durationS} s measured per target; servers and load generator in separate processes`,
  );
  const metrics: Metric[] = [
    { name: "load.connections", value: connections, unit: "connections" },
    { name: "load.body_bytes", value: bodyBytes, unit: "bytes" },
    { name: "load.warmup", value: warmupS, unit: "s" },
    { name: "load.duration", value: durationS, unit: "s" },
  ];
  const durable = new Map<string, boolean>();
  for (const target of ran) {
    console.log(`- ${target.title}…`);
    const outcome = await benchTarget(target);
    metrics.push(...outcome.metrics);
    for (const line of outcome.checks) console.log(`  ${line}`);
    durable.set(target.name, outcome.ok);
  }
  addRatiosToBare(
    metrics,
    ran.map((t) => t.label),
  );
  printSummary(metrics, ran);

  console.log("\nTargets:");
  const value = (name: string) => metrics.find((m) => m.name === name)?.value;
  const ratio = value("sqlite.req_per_s_ratio_to_bare");
  const p99 = value("sqlite.latency_p99");
  if (ratio !== undefined) {
    console.log(
      `  ${ratio >= 0.5 ? "PASS" : "MISS"} Tenon on SQLite ≥ 50% of the bare server's req/s: ${format(100 * ratio)}%`,
    );
  }
  if (p99 !== undefined) {
    console.log(`  ${p99 <= 25 ? "PASS" : "MISS"} Tenon on SQLite p99 ≤ 25 ms: ${format(p99)} ms`);
  }
  for (const [name, ok] of durable) {
    if (name === "bare") continue;
    console.log(`  ${ok ? "PASS" : "MISS"} ${name}: every 2xx stored, no non-2xx`);
  }
  for (const [on, off] of instrumentationPairs) {
    const onRate = value(`${on}.req_per_s`);
    const offRate = value(`${off}.req_per_s`);
    if (onRate === undefined || offRate === undefined) continue;
    const ratio = onRate / offRate;
    metrics.push({ name: `${on}.instrumentation_on_off_ratio`, value: ratio, unit: "x" });
    const onCpu = value(`${on}.server_cpu_per_request`);
    const offCpu = value(`${off}.server_cpu_per_request`);
    const cpu =
      onCpu !== undefined && offCpu !== undefined ? `; server CPU per request ${format(onCpu / offCpu)}× (on/off)` : "";
    console.log(
      `  ${ratio >= 0.95 ? "PASS" : "MISS"} ${on}: instrumentation costs ≤ 5% of req/s: on/off = ${format(onRate)} / ${format(offRate)} = ${ratio.toFixed(3)}${cpu}`,
    );
  }
  console.log(
    "\nreq/s counts every response of the measured run over its duration. Latency is timed by the load generator," +
      "\nfrom building a request (just before writing it) to its parsed response. CPU is the share of one core a process" +
      "\nused during the measured run (2 cores in all, shared by the server, the load generator and PostgreSQL).",
  );

  mkdirSync(dirname(resultsFile), { recursive: true });
  writeFileSync(resultsFile, `${JSON.stringify(metrics, null, 2)}\n`);
  console.log(`\nwrote ${resultsFile}`);
}

await main();
