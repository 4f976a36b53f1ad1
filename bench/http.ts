/**
 * Outbound HTTP benchmark: requests through Tenon's connection client against raw undici, in the same run, to the same
 * local API (bench/http-server.ts, a bare node:http server in its own process that answers every POST with ~200 bytes
 * of JSON).
 *
 *   npm run bench:http                              # 50 in flight, 1 s warm-up + 5 s measured, 2 rounds
 *   BENCH_DURATION_S=2 BENCH_ROUNDS=1 npm run bench:http
 *
 * Both clients POST the same 1 KB JSON object (serialised per request) with the same headers on the wire
 * (content-type, a bearer token, an idempotency key) and read the JSON answer:
 *   raw_undici  undici.request() through a keep-alive undici.Agent.
 *   tenon       connections.client("api").post("/orders", { json }) of a Connections on SQLite (migrated, in a temp
 *               dir): bearer auth from the config's credentials, no rateLimit (the limiter is disabled), circuit
 *               breaker on and audit trail on (both defaults). Each request runs in a fresh step scope (runInStep), as
 *               inside step.run, so the client derives the idempotency key and tags the audit record with run and step.
 *               There is no run being executed (no engine), so the records take the audit trail's buffered path; in
 *               a run they ride with the step's record into its transaction instead (src/runtime/held-audit.ts), a
 *               cost bench:e2e measures. Either way each record is one SQLite insert on this process's CPU.
 * The phases alternate (raw, tenon, raw, tenon, …) and the best round of each (by req/s) is reported, to reduce noise.
 *
 * Knobs (environment):
 *   BENCH_DURATION_S   measured seconds per phase (default 5)
 *   BENCH_WARMUP_S     warm-up seconds before each phase, not measured (default 1)
 *   BENCH_CONCURRENCY  requests in flight (default 50)
 *   BENCH_BODY_BYTES   request body size (default 1024)
 *   BENCH_ROUNDS       raw + tenon rounds (default 2)
 *   BENCH_ONLY         raw or tenon: run only that client (to profile one of them); no ratio, results not written
 *   BENCH_DRIFT        compare: what API drift learning costs instead. Two Tenon clients, one without a drift learner
 *                      and one with (as `tenon start` wires it: src/drift/), in the order off, on, on, off per round;
 *                      reports the ratio of the means of their req/s. Writes bench/results/http-drift.json.
 *   BENCH_DRIFT_SAMPLES  bodies learned per route and second in that mode (default 10, the engine's default)
 *
 * Every Tenon exchange must be in the audit trail: after the audit is flushed, the rows of connection "api" must be
 * exactly as many as the requests sent through the client (warm-ups and verification included).
 *
 * Writes bench/results/http.json: { date, machine, parameters, metrics: [{ name, value, unit }] }.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import pino from "pino";
import { Agent, request } from "undici";
import { Connections } from "../src/connections/connections.ts";
import { openVault } from "../src/connections/vault/open-vault.ts";
import { DriftLearner } from "../src/drift/drift-learner.ts";
import { systemClock } from "../src/runtime/clock.ts";
import { runInStep } from "../src/runtime/step-scope.ts";
import { SqliteStorage } from "../src/storage/sqlite/sqlite-storage.ts";

interface Metric {
  name: string;
  value: number;
  unit: string;
}

type ClientName = "raw_undici" | "tenon" | "tenon_drift";

/** One measured phase of one client. */
interface Phase {
  client: ClientName;
  round: number;
  durationS: number;
  requests: number;
  errors: number;
  reqPerS: number;
  latencyMs: { p50: number; p99: number; max: number; mean: number };
  /** User + system CPU of this (the client's) process per request. */
  cpuPerRequestUs: number;
  /** Share of one core this process used. */
  cpuPercent: number;
  /** User + system CPU of the API server per request (Linux only). */
  serverCpuPerRequestUs: number | undefined;
}

/** Sends one request; resolves once the whole answer is read, throws unless it was a 200. */
type Send = () => Promise<void>;

const durationS = numberEnv("BENCH_DURATION_S", 5);
const warmupS = numberEnv("BENCH_WARMUP_S", 1);
const concurrency = numberEnv("BENCH_CONCURRENCY", 50);
const bodyBytes = numberEnv("BENCH_BODY_BYTES", 1024);
const rounds = numberEnv("BENCH_ROUNDS", 2);
const only = process.env.BENCH_ONLY ?? "";
if (only !== "" && only !== "raw" && only !== "tenon")
  throw new Error(`BENCH_ONLY must be raw or tenon, got "${only}"`);
const driftMode = process.env.BENCH_DRIFT ?? "";
if (driftMode !== "" && driftMode !== "compare") throw new Error(`BENCH_DRIFT must be compare, got "${driftMode}"`);
const driftSamples = numberEnv("BENCH_DRIFT_SAMPLES", 10);
const benchDir = dirname(fileURLToPath(import.meta.url));
const resultsFile = join(benchDir, "results", "http.json");
const token = `bench-token-${randomBytes(16).toString("hex")}`;
const connectionId = "api";
/** Linux reports process CPU time in clock ticks of 1/100 s (`getconf CLK_TCK`). */
const clockTicksPerS = 100;

function numberEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, got "${raw}"`);
  return value;
}

// ---------------------------------------------------------------------------------------------------------------
// The API server (a child process)

interface Server {
  process: ChildProcess;
  url: string;
  exited: Promise<number | null>;
}

async function startServer(): Promise<Server> {
  const child = spawn(process.execPath, ["--import", "tsx", join(benchDir, "http-server.ts")], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  let timer: NodeJS.Timeout | undefined;
  const url = await Promise.race([
    new Promise<string>((resolve) => lines.once("line", (text) => resolve((JSON.parse(text) as { url: string }).url))),
    exited.then((code) => Promise.reject(new Error(`http-server.ts exited (code ${code}) before listening`))),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("http-server.ts did not listen within 30 s")), 30_000);
    }),
  ]).finally(() => clearTimeout(timer));
  return { process: child, url, exited };
}

/** SIGTERM, then SIGKILL if it has not exited after `graceMs`; resolves true when it exited by itself with code 0. */
async function stopServer(server: Server, graceMs: number): Promise<boolean> {
  if (server.process.exitCode !== null) return server.process.exitCode === 0;
  server.process.kill("SIGTERM");
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([
    server.exited,
    new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), graceMs);
    }),
  ]);
  clearTimeout(timer);
  if (code !== "timeout") return code === 0;
  server.process.kill("SIGKILL");
  await server.exited;
  return false;
}

interface ServerStats {
  posts: number;
  withIdempotencyKey: number;
  withBearer: number;
  bodyBytes: number;
}

async function serverStats(url: string): Promise<ServerStats> {
  const response = await fetch(`${url}/stats`);
  return (await response.json()) as ServerStats;
}

/** User + system CPU seconds a live process has used so far (Linux /proc); undefined elsewhere. */
function cpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the ")" that closes the command name: utime and stime are the 12th and 13th.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / clockTicksPerS;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Load

/** An order of exactly `bytes` bytes of JSON. */
function orderPayload(bytes: number): Record<string, unknown> {
  const order = {
    customer: { id: "cus_9Qm2Lr7Xv4", email: "ada@example.com", name: "Ada Lovelace" },
    currency: "eur",
    lines: [
      { sku: "SKU-1001", quantity: 2, unitAmount: 1250 },
      { sku: "SKU-2002", quantity: 1, unitAmount: 4990 },
      { sku: "SKU-3003", quantity: 5, unitAmount: 300 },
    ],
    shipping: { street: "12 Analytical Row", city: "London", postcode: "N1 9GU", country: "GB" },
    note: "",
  };
  const missing = bytes - JSON.stringify(order).length;
  if (missing < 0) throw new Error(`BENCH_BODY_BYTES must be at least ${JSON.stringify(order).length}`);
  order.note = "x".repeat(missing);
  return order;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

interface LoadResult {
  wallS: number;
  requests: number;
  errors: number;
  firstError: unknown;
  latencies: number[];
}

/** `concurrency` loops, each sending its next request as soon as the previous one is answered, until `seconds` pass. */
async function drive(send: Send, seconds: number): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  let firstError: unknown;
  const started = performance.now();
  const end = started + seconds * 1000;
  const loop = async () => {
    while (performance.now() < end) {
      const sentAt = performance.now();
      try {
        await send();
        latencies.push(performance.now() - sentAt);
      } catch (error) {
        errors++;
        firstError ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  return {
    wallS: (performance.now() - started) / 1000,
    requests: latencies.length + errors,
    errors,
    firstError,
    latencies,
  };
}

async function measure(client: ClientName, round: number, send: Send, serverPid: number | undefined): Promise<Phase> {
  const warm = await drive(send, warmupS);
  if (warm.errors > 0)
    throw new Error(`${client}: ${warm.errors} errors in the warm-up, first: ${String(warm.firstError)}`);
  const serverCpu0 = cpuSeconds(serverPid);
  const cpu0 = process.cpuUsage();
  const load = await drive(send, durationS);
  const cpu = process.cpuUsage(cpu0);
  const serverCpu1 = cpuSeconds(serverPid);
  const cpuUs = cpu.user + cpu.system;
  const sorted = Float64Array.from(load.latencies).sort();
  const mean = load.latencies.reduce((sum, ms) => sum + ms, 0) / Math.max(1, load.latencies.length);
  return {
    client,
    round,
    durationS: load.wallS,
    requests: load.requests,
    errors: load.errors,
    reqPerS: (load.requests - load.errors) / load.wallS,
    latencyMs: { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: percentile(sorted, 100), mean },
    cpuPerRequestUs: cpuUs / load.requests,
    cpuPercent: cpuUs / 1e4 / load.wallS,
    serverCpuPerRequestUs:
      serverCpu0 !== undefined && serverCpu1 !== undefined
        ? (1e6 * (serverCpu1 - serverCpu0)) / load.requests
        : undefined,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The two clients

function rawClient(
  url: string,
  payload: Record<string, unknown>,
): { send: Send; sent: () => number; close: () => Promise<void> } {
  const agent = new Agent({ keepAliveTimeout: 30_000 });
  const target = `${url}/orders`;
  let n = 0;
  const send: Send = async () => {
    n++;
    const answer = await request(target, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        authorization: `Bearer ${token}`,
        "idempotency-key": `raw_${n}`,
      },
      body: JSON.stringify(payload),
      dispatcher: agent,
    });
    const body = (await answer.body.json()) as { status?: string };
    if (answer.statusCode !== 200 || body.status !== "accepted") {
      throw new Error(`raw undici: answered ${answer.statusCode} ${JSON.stringify(body)}`);
    }
  };
  return { send, sent: () => n, close: () => agent.close() };
}

/** With `drift`, the connection's answers are learned by a drift learner, as `tenon start` wires it. */
async function tenonClient(url: string, payload: Record<string, unknown>, dir: string, drift = false) {
  const storage = new SqliteStorage({ path: join(dir, "tenon.db") });
  await storage.migrate();
  const logger = pino({ level: "silent" });
  const learner = drift
    ? new DriftLearner({ store: storage.drift, clock: systemClock, logger, maxSamplesPerSecond: driftSamples })
    : undefined;
  await learner?.start();
  const connections = new Connections({
    storage,
    vault: openVault({ env: { TENON_MASTER_KEY: randomBytes(32).toString("base64") } }),
    configs: { [connectionId]: { baseUrl: url, auth: { type: "bearer" }, credentials: { token } } },
    logger,
    ...(learner ? { observeResponse: learner.observeResponse } : {}),
  });
  const client = connections.client(connectionId);
  let n = 0;
  const send: Send = async () => {
    n++;
    // A fresh step per request, as step.run gives each step function: the client reads it for the idempotency key
    // and for the audit record's run and step.
    const scope = {
      runId: `run_bench_${n}`,
      stepName: "create-order",
      idempotencyKey: `idem_${n}`,
      attempt: 1,
    };
    const response = await runInStep(scope, () => client.post<{ status?: string }>("/orders", { json: payload }));
    if (response.status !== 200 || response.body.status !== "accepted") {
      throw new Error(`tenon: answered ${response.status} ${response.text}`);
    }
  };
  return {
    send,
    sent: () => n,
    /** Flushes the audit trail, closes everything, and counts the audit rows of the connection. */
    async close(): Promise<{ rows: number; tagged: number; withKey: number; shapes: number }> {
      await connections.stop();
      await learner?.stop();
      await storage.close();
      const db = new Database(join(dir, "tenon.db"), { readonly: true });
      try {
        const count = (sql: string) => (db.prepare(sql).pluck().get(connectionId) as number) ?? 0;
        return {
          rows: count("SELECT count(*) FROM audit_log WHERE connection_id = ?"),
          tagged: count(
            "SELECT count(*) FROM audit_log WHERE connection_id = ? AND run_id LIKE 'run_bench_%' AND step_name = 'create-order'",
          ),
          withKey: count(
            `SELECT count(*) FROM audit_log WHERE connection_id = ? AND request_headers LIKE '%"idempotency-key":"idem_%'`,
          ),
          shapes: count("SELECT count(*) FROM drift_shapes WHERE subject = ? AND baseline IS NOT NULL"),
        };
      } finally {
        db.close();
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Report

function format(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (Number.isInteger(value)) return value.toLocaleString("en-US");
  return value.toLocaleString("en-US", { maximumFractionDigits: Math.abs(value) >= 100 ? 0 : 2 });
}

function phaseMetrics(label: string, phase: Phase): Metric[] {
  const metrics: Metric[] = [
    { name: `${label}.req_per_s`, value: phase.reqPerS, unit: "req/s" },
    { name: `${label}.latency_p50`, value: phase.latencyMs.p50, unit: "ms" },
    { name: `${label}.latency_p99`, value: phase.latencyMs.p99, unit: "ms" },
    { name: `${label}.latency_max`, value: phase.latencyMs.max, unit: "ms" },
    { name: `${label}.latency_mean`, value: phase.latencyMs.mean, unit: "ms" },
    { name: `${label}.requests`, value: phase.requests, unit: "requests" },
    { name: `${label}.errors`, value: phase.errors, unit: "errors" },
    { name: `${label}.cpu_per_request`, value: phase.cpuPerRequestUs, unit: "µs" },
    { name: `${label}.cpu`, value: phase.cpuPercent, unit: "% of a core" },
  ];
  if (phase.serverCpuPerRequestUs !== undefined) {
    metrics.push({ name: `${label}.server_cpu_per_request`, value: phase.serverCpuPerRequestUs, unit: "µs" });
  }
  return metrics;
}

function printPhases(phases: Phase[], best: Map<ClientName, Phase>): void {
  const header = `${"client".padEnd(11)} ${"round".padStart(5)} ${"req/s".padStart(8)} ${"p50 ms".padStart(7)} ${"p99 ms".padStart(7)} ${"max ms".padStart(7)} ${"errors".padStart(6)} ${"CPU".padStart(5)} ${"µs CPU/req".padStart(10)} ${"srv µs/req".padStart(10)}`;
  console.log(`\n${header}\n${"-".repeat(header.length)}`);
  for (const p of phases) {
    const cells = [
      p.client.padEnd(11),
      `${p.round}${best.get(p.client) === p ? "*" : " "}`.padStart(5),
      format(p.reqPerS).padStart(8),
      format(p.latencyMs.p50).padStart(7),
      format(p.latencyMs.p99).padStart(7),
      format(p.latencyMs.max).padStart(7),
      format(p.errors).padStart(6),
      `${format(p.cpuPercent)}%`.padStart(5),
      format(p.cpuPerRequestUs).padStart(10),
      (p.serverCpuPerRequestUs === undefined ? "–" : format(p.serverCpuPerRequestUs)).padStart(10),
    ];
    console.log(cells.join(" "));
  }
  console.log("(* the best round of each client, by req/s: the one reported)");
}

/**
 * BENCH_DRIFT=compare: the same Tenon client with and without drift learning, off, on, on, off in each round (so
 * that a drift of the machine over the run weighs on both alike); the cost is 1 − mean(on) / mean(off).
 */
async function compareDrift(url: string, payload: Record<string, unknown>, dir: string, pid: number | undefined) {
  mkdirSync(join(dir, "off"));
  mkdirSync(join(dir, "on"));
  const off = await tenonClient(url, payload, join(dir, "off"));
  const on = await tenonClient(url, payload, join(dir, "on"), true);
  const sends: Partial<Record<ClientName, Send>> = { tenon: off.send, tenon_drift: on.send };
  await off.send();
  await on.send();
  const phases: Phase[] = [];
  for (let round = 1; round <= rounds; round++) {
    for (const client of ["tenon", "tenon_drift", "tenon_drift", "tenon"] as const) {
      process.stdout.write(`- round ${round}, ${client}… `);
      const phase = await measure(client, round, sends[client] as Send, pid);
      phases.push(phase);
      console.log(`${format(phase.reqPerS)} req/s`);
    }
  }
  const offAudit = await off.close();
  const onAudit = await on.close();
  const mean = (client: ClientName) => {
    const of = phases.filter((p) => p.client === client);
    return of.reduce((sum, p) => sum + p.reqPerS, 0) / of.length;
  };
  const ratio = mean("tenon_drift") / mean("tenon");
  const errors = phases.reduce((sum, p) => sum + p.errors, 0);
  const metrics: Metric[] = [
    { name: "tenon.req_per_s_mean", value: mean("tenon"), unit: "req/s" },
    { name: "tenon_drift.req_per_s_mean", value: mean("tenon_drift"), unit: "req/s" },
    { name: "tenon_drift.req_per_s_ratio_to_tenon", value: ratio, unit: "x" },
    { name: "tenon_drift.cost", value: (1 - ratio) * 100, unit: "% of req/s" },
    { name: "tenon_drift.shapes_learned", value: onAudit.shapes, unit: "shapes" },
    ...phases.flatMap((p, i) => phaseMetrics(`phases.${i + 1}.${p.client}`, p)),
  ];
  console.log("\nChecks:");
  console.log(`  ${errors === 0 ? "PASS" : "FAIL"} errors in measured phases: ${errors}`);
  const learned = onAudit.shapes === 1 && offAudit.shapes === 0;
  console.log(`  ${learned ? "PASS" : "FAIL"} the learner learned the route's shape (and only it): ${onAudit.shapes}`);
  console.log("\nTargets:");
  console.log(
    `  ${ratio >= 0.97 ? "PASS" : "MISS"} drift learning costs ≤ 3% of req/s: ${format(mean("tenon_drift"))} vs ${format(mean("tenon"))} = ${ratio.toFixed(3)}× (${((1 - ratio) * 100).toFixed(1)}%)`,
  );
  const file = join(benchDir, "results", "http-drift.json");
  const cpu = cpus()[0]?.model ?? "unknown";
  writeFileSync(
    file,
    `${JSON.stringify(
      {
        date: new Date().toISOString(),
        machine: { node: process.version, cpu, cores: cpus().length, platform: `${process.platform} ${process.arch}` },
        parameters: { durationS, warmupS, concurrency, requestBodyBytes: bodyBytes, rounds, driftSamples },
        metrics,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`\nwrote ${file}`);
  return errors === 0 && learned;
}

async function main(): Promise<void> {
  if (driftMode === "compare") {
    const dir = mkdtempSync(join(tmpdir(), "tenon-bench-http-drift-"));
    const server = await startServer();
    try {
      if (!(await compareDrift(server.url, orderPayload(bodyBytes), dir, server.process.pid))) process.exitCode = 1;
    } finally {
      await stopServer(server, 10_000);
      rmSync(dir, { recursive: true, force: true });
    }
    return;
  }
  const clients: ClientName[] =
    only === "raw" ? ["raw_undici"] : only === "tenon" ? ["tenon"] : ["raw_undici", "tenon"];
  console.log(
    `Tenon outbound HTTP bench: POST ${bodyBytes} B JSON, ~200 B JSON answers, ${concurrency} in flight, ` +
      `${warmupS} s warm-up + ${durationS} s measured per phase, ${rounds} round(s) of ${clients.join(" + ")}; ` +
      "API server in a child process",
  );
  const dir = mkdtempSync(join(tmpdir(), "tenon-bench-http-"));
  const server = await startServer();
  const payload = orderPayload(bodyBytes);
  let failed = false;
  try {
    const raw = rawClient(server.url, payload);
    const tenon = await tenonClient(server.url, payload, dir);
    const sends: Partial<Record<ClientName, Send>> = { raw_undici: raw.send, tenon: tenon.send };

    // One request each, and a look at what the server saw: a benchmark of failures or of bare requests measures nothing.
    await raw.send();
    await tenon.send();
    const seen = await serverStats(server.url);
    if (seen.posts !== 2 || seen.withIdempotencyKey !== 2 || seen.withBearer !== 2) {
      throw new Error(`the verification requests did not arrive as sent: ${JSON.stringify(seen)}`);
    }

    const phases: Phase[] = [];
    for (let round = 1; round <= rounds; round++) {
      for (const client of clients) {
        process.stdout.write(`- round ${round}, ${client}… `);
        const phase = await measure(client, round, sends[client] as Send, server.process.pid);
        phases.push(phase);
        console.log(`${format(phase.reqPerS)} req/s`);
        if (phase.errors > 0) failed = true;
      }
    }
    const stats = await serverStats(server.url);
    await raw.close();
    const audit = await tenon.close();

    const best = new Map<ClientName, Phase>();
    for (const p of phases) {
      const current = best.get(p.client);
      if (!current || p.reqPerS > current.reqPerS) best.set(p.client, p);
    }
    printPhases(phases, best);

    const metrics: Metric[] = [];
    for (const client of clients) metrics.push(...phaseMetrics(client, best.get(client) as Phase));
    const bestRaw = best.get("raw_undici");
    const bestTenon = best.get("tenon");
    const ratio = bestRaw && bestTenon ? bestTenon.reqPerS / bestRaw.reqPerS : undefined;
    if (bestRaw && bestTenon && ratio !== undefined) {
      metrics.push(
        { name: "tenon.req_per_s_ratio_to_raw", value: ratio, unit: "x" },
        { name: "tenon.latency_p50_ratio_to_raw", value: bestTenon.latencyMs.p50 / bestRaw.latencyMs.p50, unit: "x" },
        { name: "tenon.latency_p99_ratio_to_raw", value: bestTenon.latencyMs.p99 / bestRaw.latencyMs.p99, unit: "x" },
        {
          name: "tenon.cpu_per_request_overhead",
          value: bestTenon.cpuPerRequestUs - bestRaw.cpuPerRequestUs,
          unit: "µs",
        },
      );
    }
    for (const p of phases) metrics.push(...phaseMetrics(`rounds.${p.client}.${p.round}`, p));

    const tenonSent = tenon.sent();
    const rawSent = raw.sent();
    metrics.push(
      { name: "tenon.requests_total", value: tenonSent, unit: "requests" },
      { name: "tenon.audit_rows", value: audit.rows, unit: "rows" },
      { name: "tenon.audit_rows_tagged_with_step", value: audit.tagged, unit: "rows" },
      { name: "tenon.audit_rows_with_idempotency_key", value: audit.withKey, unit: "rows" },
      { name: "server.posts", value: stats.posts, unit: "requests" },
    );

    console.log("\nChecks:");
    const auditOk = audit.rows === tenonSent && audit.tagged === tenonSent && audit.withKey === tenonSent;
    console.log(
      `  ${auditOk ? "PASS" : "FAIL"} audit rows of "${connectionId}": ${format(audit.rows)} for ${format(tenonSent)} Tenon requests ` +
        `(warm-ups and verification included); tagged with run and step: ${format(audit.tagged)}; ` +
        `with the step's idempotency key: ${format(audit.withKey)}`,
    );
    const serverOk = stats.posts === tenonSent + rawSent && stats.withIdempotencyKey === stats.posts;
    console.log(
      `  ${serverOk ? "PASS" : "FAIL"} the server received ${format(stats.posts)} POSTs for ${format(tenonSent + rawSent)} sent ` +
        `(${format(rawSent)} raw + ${format(tenonSent)} Tenon), ${format(stats.withIdempotencyKey)} with an idempotency key`,
    );
    const errors = phases.reduce((sum, p) => sum + p.errors, 0);
    console.log(`  ${errors === 0 ? "PASS" : "FAIL"} errors in measured phases: ${errors}`);
    if (!auditOk || !serverOk) failed = true;

    console.log("\nTargets:");
    if (bestRaw && bestTenon && ratio !== undefined) {
      console.log(
        `  ${ratio >= 0.8 ? "PASS" : "MISS"} Tenon ≥ 0.8 × raw undici req/s: ${format(bestTenon.reqPerS)} vs ${format(bestRaw.reqPerS)} = ${ratio.toFixed(2)}×` +
          ` (CPU per request ${format(bestTenon.cpuPerRequestUs)} vs ${format(bestRaw.cpuPerRequestUs)} µs)`,
      );
    }
    console.log(
      "\nreq/s counts the answered requests of a measured phase over its wall time (in-flight requests are let finish)." +
        "\nLatency is from calling the client to having read the whole answer. CPU is process.cpuUsage() of this process" +
        "\n(the client side, including Tenon's audit flushes to SQLite) over the phase; srv is the API server's process." +
        `\n${cpus().length} cores in all, shared by this process and the server.`,
    );

    const cpu = cpus()[0]?.model ?? "unknown";
    const results = {
      date: new Date().toISOString(),
      machine: { node: process.version, cpu, cores: cpus().length, platform: `${process.platform} ${process.arch}` },
      parameters: {
        durationS,
        warmupS,
        concurrency,
        requestBodyBytes: bodyBytes,
        responseBodyBytes: 200,
        rounds,
        clients,
        tenon: { storage: "sqlite", rateLimit: "none", circuit: "default (on)", audit: "default (on)", auth: "bearer" },
      },
      metrics,
    };
    if (only !== "") {
      console.log(`\nBENCH_ONLY=${only}: ${resultsFile} left as it was`);
    } else {
      mkdirSync(dirname(resultsFile), { recursive: true });
      writeFileSync(resultsFile, `${JSON.stringify(results, null, 2)}\n`);
      console.log(`\nwrote ${resultsFile}`);
    }
  } finally {
    if (!(await stopServer(server, 10_000))) console.log("  ! the API server did not stop cleanly (killed)");
    rmSync(dir, { recursive: true, force: true });
  }
  if (failed) process.exitCode = 1;
}

await main();
