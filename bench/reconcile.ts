/**
 * Reconciliation benchmark: 100,000 store orders against 100,000 accounting invoices with 1% differences (0.5%
 * invoices missing, 0.3% totals changed, 0.2% invoices without an order), compared by the store-vs-accounting
 * example over real HTTP against the sandbox, with paging (250 orders, 1,000 invoices a page), on SQLite.
 * Run with --expose-gc (the npm script does) it also prints the heap the run left behind once collected. Prints
 * records compared per second, the run's share of time in the listers' HTTP, in spilling the pages to
 * storage and in matching, and the process's RSS before and at its peak during the run. Target (issue 17):
 * peak RSS growth ≤ 100 MB. The npm script runs it with the heap Tenon is deployed with (`--max-old-space-size=1024`,
 * docs/deployment.md "Memory"); with Node's default heap on a large machine V8 lets garbage grow to about four times
 * what is live before a full collection (`node --expose-gc --import tsx bench/reconcile.ts` shows it).
 *
 *   npm run bench:reconcile
 *   BENCH_RECONCILE_RECORDS=20000 npm run bench:reconcile   # quick run
 *
 * Knobs (environment):
 *   BENCH_RECONCILE_RECORDS   orders (and about as many invoices) (default 100000)
 *   BENCH_ONLY                sqlite, postgres or both, comma-separated (default sqlite)
 *   TENON_BENCH_DATABASE_URL  PostgreSQL URL (default postgres://postgres@127.0.0.1:5432/test)
 *   BENCH_RECONCILE_SPACES    1: also prints the heap's spaces, external memory and array buffers before and at the peak
 *   BENCH_RECONCILE_GC_FIRST  1: a full GC before the baseline is taken (by default the process is as it runs)
 *   BENCH_HEAP_PROF           a file: every allocation during the run sampled there (.heapprofile, DevTools opens it)
 *   BENCH_CPU_PROF            a directory: the sandbox process runs with --cpu-prof and writes its profile there
 *                             (profile Tenon's side with `node --cpu-prof --expose-gc --import tsx bench/reconcile.ts`)
 *
 * The sandbox runs in a process of its own (bench/reconcile-sandbox.ts): the RSS is Tenon's alone.
 * Writes bench/results/reconcile.json: [{ name, value, unit }].
 */
import { spawn } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { getHeapSpaceStatistics, getHeapStatistics } from "node:v8";
import pino from "pino";
import { storeVsAccounting } from "../examples/reconciliations.ts";
import { startTenonServices } from "../src/app/tenon-services.ts";
import { readSettings } from "../src/config/settings.ts";
import { openVault } from "../src/connections/vault/open-vault.ts";
import { quickbooks } from "../src/connectors/quickbooks/index.ts";
import { shopify } from "../src/connectors/shopify/index.ts";
import { requestReconciliationRun } from "../src/reconciliation/reconciliations.ts";
import type { ReconcileListContext, Reconciliation } from "../src/sdk/define-reconciliation.ts";
import { defineReconciliation } from "../src/sdk/define-reconciliation.ts";
import type { Storage } from "../src/storage/contract.ts";
import { PostgresStorage } from "../src/storage/postgres/postgres-storage.ts";
import { SqliteStorage } from "../src/storage/sqlite/sqlite-storage.ts";
import { sampleAllocations } from "./heap-sampling.ts";

interface Metric {
  name: string;
  value: number;
  unit: string;
}

const only = (process.env.BENCH_ONLY ?? "sqlite").split(",");
const postgresUrl = process.env.TENON_BENCH_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const resultsFile = join(dirname(fileURLToPath(import.meta.url)), "results", "reconcile.json");
const sandboxScript = fileURLToPath(new URL("./reconcile-sandbox.ts", import.meta.url));
const mb = (bytes: number) => Math.round(bytes / 1024 / 1024);

interface SandboxInfo {
  store: { baseUrl: string; token: string };
  accounting: { baseUrl: string; realmId: string; clientId: string; clientSecret: string; refreshToken: string };
  expected: { missingRight: number; mismatched: number; missingLeft: number };
}

/** Starts the seeded sandbox in a process of its own; resolves once it listens. */
function startSandbox(): Promise<{ info: SandboxInfo; seededAt: number; stop: () => void }> {
  const profile = process.env.BENCH_CPU_PROF ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
  const child = spawn(process.execPath, [...profile, "--import", "tsx", sandboxScript], {
    stdio: ["pipe", "pipe", "inherit"],
    env: process.env,
  });
  return new Promise((resolve, reject) => {
    let output = "";
    child.on("exit", (code) => reject(new Error(`the sandbox process ended (${code}) before it listened`)));
    child.stdout.on("data", (chunk) => {
      output += chunk;
      const line = output.split("\n")[0];
      if (!output.includes("\n") || line === undefined) return;
      child.removeAllListeners("exit");
      resolve({ info: JSON.parse(line) as SandboxInfo, seededAt: Date.now(), stop: () => child.stdin.end() });
    });
  });
}

async function bench(backend: "sqlite" | "postgres"): Promise<Metric[]> {
  const sandbox = await startSandbox();
  const { info } = sandbox;
  const expected = info.expected;
  const timing = { httpMs: 0, pages: 0 };
  const timed =
    (list: (context: ReconcileListContext) => Promise<{ records: unknown[]; nextCursor: string | null }>) =>
    async (context: ReconcileListContext) => {
      const startedAt = performance.now();
      try {
        return await list(context);
      } finally {
        timing.httpMs += performance.now() - startedAt;
        timing.pages += 1;
      }
    };
  const { mode: _mode, ...example } = storeVsAccounting({ settle: 0, mode: "report" }) as unknown as Reconciliation;
  const reconciliation = defineReconciliation({
    ...example,
    left: { ...example.left, list: timed(example.left.list) },
    right: { ...example.right, list: timed(example.right.list) },
  });

  const dir = mkdtempSync(join(tmpdir(), "tenon-bench-reconcile-"));
  const schema = `bench_reconcile_${randomUUID().replaceAll("-", "").slice(0, 12)}`;
  const storage: Storage =
    backend === "sqlite"
      ? new SqliteStorage({ path: join(dir, "tenon.db") })
      : new PostgresStorage({ connectionString: postgresUrl, schema });
  const services = await startTenonServices({
    config: {
      integrations: [],
      reconciliations: [reconciliation],
      connections: {
        store: {
          ...shopify.connection({ baseUrl: info.store.baseUrl, credentials: { apiKey: info.store.token } }),
          rateLimit: false,
        },
        accounting: {
          ...quickbooks.connection({
            baseUrl: info.accounting.baseUrl,
            realmId: info.accounting.realmId,
            tokenUrl: `${info.accounting.baseUrl}/oauth2/v1/tokens/bearer`,
            authorizationUrl: `${info.accounting.baseUrl}/connect/oauth2`,
            credentials: {
              clientId: info.accounting.clientId,
              clientSecret: info.accounting.clientSecret,
              refreshToken: info.accounting.refreshToken,
            },
          }),
          rateLimit: false,
        },
      },
    },
    settings: readSettings({ TENON_HTTP_PORT: "0", TENON_LOG_LEVEL: "silent", TENON_METRICS: "off" }),
    storage,
    vault: openVault({ env: { TENON_MASTER_KEY: randomBytes(32).toString("base64") } }),
    logger: pino({ level: "silent" }),
  });
  try {
    // Orders the store had before the run, not orders placed a moment ago: the example asks the store, for every
    // invoice page, which orders are younger than a second before its cut-off (`ordersCreatedAfter`), and orders
    // seeded within that second would have it page through them each time (the bench would measure the sandbox).
    const lastSeeded = sandbox.seededAt + 1_100 - Date.now();
    if (lastSeeded > 0) await new Promise((resolve) => setTimeout(resolve, lastSeeded));
    if (process.env.BENCH_RECONCILE_GC_FIRST) global.gc?.();
    const baseline = process.memoryUsage().rss;
    if (process.env.BENCH_RECONCILE_SPACES) {
      const usage = process.memoryUsage();
      const spaces = getHeapSpaceStatistics()
        .map((space) => `${space.space_name} ${mb(space.space_size)}`)
        .join(", ");
      console.log(
        `  before (MB): heap ${mb(usage.heapTotal)} (${spaces}), external ${mb(usage.external)}, array buffers ${mb(usage.arrayBuffers)}`,
      );
    }
    const heapBefore = process.memoryUsage().heapUsed;
    let peak = baseline;
    let atPeak = "";
    const sampler = setInterval(() => {
      const usage = process.memoryUsage();
      if (usage.rss <= peak) return;
      peak = usage.rss;
      if (process.env.BENCH_RECONCILE_SPACES) {
        const spaces = getHeapSpaceStatistics()
          .map((space) => `${space.space_name} ${mb(space.space_size)}`)
          .join(", ");
        atPeak = `heap ${mb(usage.heapTotal)} (${spaces}), external ${mb(usage.external)}, array buffers ${mb(usage.arrayBuffers)}`;
      }
    }, 50);
    const allocations = process.env.BENCH_HEAP_PROF ? await sampleAllocations() : undefined;
    const startedAt = performance.now();
    const accepted = await requestReconciliationRun(services.engine.send, reconciliation.id, {
      dryRun: false,
      requestedBy: "bench",
    });
    const runId = accepted.runIds[0] as string;
    for (;;) {
      const run = await storage.getRun(runId);
      if (run?.status === "succeeded") break;
      if (run && ["failed", "dead"].includes(run.status))
        throw new Error(`the run ended ${run.status}: ${run.lastError}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const elapsedMs = performance.now() - startedAt;
    clearInterval(sampler);
    if (allocations) {
      await allocations.stop(process.env.BENCH_HEAP_PROF as string);
      console.log(`  allocations sampled: ${process.env.BENCH_HEAP_PROF}`);
    }
    // With --expose-gc: what the run left on the heap once collected (the peak is mostly garbage not yet collected).
    global.gc?.();
    const heapRetained = global.gc ? process.memoryUsage().heapUsed - heapBefore : undefined;
    const report = (await storage.reconcile.listReports(reconciliation.id, 1))[0];
    const counts = report?.counts;
    if (
      counts?.missingRight !== expected.missingRight ||
      counts.mismatched !== expected.mismatched ||
      counts.missingLeft !== expected.missingLeft
    ) {
      throw new Error(`the report is wrong: ${JSON.stringify(counts)}, expected ${JSON.stringify(expected)}`);
    }
    const steps = await storage.listSteps(runId);
    const took = (prefix: string) =>
      steps
        .filter((step) => step.name.startsWith(prefix))
        .reduce((sum, step) => sum + (step.updatedAt - (step.startedAt ?? step.updatedAt)), 0);
    const listingMs = took("list-");
    const matchingMs = took("match");
    const compared = counts.leftRecords + counts.rightRecords;
    const share = (ms: number) => Math.round((ms / elapsedMs) * 100);
    console.log(
      `${backend}: ${counts.leftRecords} orders vs ${counts.rightRecords} invoices in ${(elapsedMs / 1000).toFixed(1)} s: ${Math.round(compared / (elapsedMs / 1000))} records/s; ` +
        `missing right ${counts.missingRight}, missing left ${counts.missingLeft}, mismatched ${counts.mismatched}`,
    );
    console.log(
      `  time: listers' HTTP ${share(timing.httpMs)}% (${timing.pages} pages), spilling ${share(listingMs - timing.httpMs)}%, matching ${share(matchingMs)}%, the rest (journal, settle, report) ${share(elapsedMs - listingMs - matchingMs)}%`,
    );
    console.log(
      `  RSS (heap limit ${mb(getHeapStatistics().heap_size_limit)} MB): ${mb(baseline)} MB before the run, ${mb(peak)} MB at its peak: +${mb(peak - baseline)} MB` +
        (heapRetained === undefined ? "" : `; heap retained after a full GC: ${mb(heapRetained)} MB`),
    );
    if (atPeak) console.log(`  at the peak (MB): ${atPeak}`);
    return [
      {
        name: `${backend} records compared per second`,
        value: Math.round(compared / (elapsedMs / 1000)),
        unit: "records/s",
      },
      { name: `${backend} reconciliation time`, value: Math.round(elapsedMs), unit: "ms" },
      { name: `${backend} share of time in the listers' HTTP`, value: share(timing.httpMs), unit: "%" },
      { name: `${backend} share of time spilling pages`, value: share(listingMs - timing.httpMs), unit: "%" },
      { name: `${backend} share of time matching`, value: share(matchingMs), unit: "%" },
      { name: `${backend} peak RSS growth`, value: mb(peak - baseline), unit: "MB" },
      ...(heapRetained === undefined
        ? []
        : [{ name: `${backend} heap retained after the run (full GC)`, value: mb(heapRetained), unit: "MB" }]),
    ];
  } finally {
    sandbox.stop();
    await services.stop(5_000);
    if (backend === "postgres") {
      const admin = new PostgresStorage({ connectionString: postgresUrl, schema });
      await admin.dropSchema();
      await admin.close();
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

const metrics: Metric[] = [];
for (const backend of ["sqlite", "postgres"] as const) {
  if (only.includes(backend)) metrics.push(...(await bench(backend)));
}
mkdirSync(dirname(resultsFile), { recursive: true });
writeFileSync(resultsFile, `${JSON.stringify(metrics, null, 2)}\n`);
console.log(`written to ${resultsFile}`);
