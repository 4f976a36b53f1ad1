/**
 * Every bench's figures in one table, each beside its target where the product has one (the product's performance
 * targets and the issues that set them, listed in docs/benchmarks.md). `npm run bench` prints it after running
 * the benches; it reads what they wrote in bench/results/*.json, in either of their two shapes:
 * `[{ name, value, unit }]` or `{ date, machine, parameters, metrics: [{ name, value, unit }] }`.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { basename, join } from "node:path";

export interface Metric {
  name: string;
  value: number;
  unit: string;
}

export interface ResultFile {
  /** The file's name without `.json`: `engine`, `ingest`, `http-drift`, … */
  bench: string;
  metrics: Metric[];
  writtenAt: Date;
}

export interface Target {
  bench: string;
  /** The figure's name, or a pattern when the same target holds for several (each backend, each query). */
  metric: string | RegExp;
  op: ">=" | "<=" | "=";
  threshold: number;
  /** Where the target comes from. */
  source: string;
  /** Its figure is measured only in a mode of the bench (BENCH_INSTRUMENTATION=compare): no figure is no news. */
  optional?: boolean;
}

export interface Row {
  bench: string;
  name: string;
  value: number;
  unit: string;
  /** `≥ 0.5`, `≤ 25 ms`, … when the figure has a target. */
  target?: string;
  met?: boolean;
  source?: string;
}

export const targets: Target[] = [
  // The hot path (issue 18; the product targets: end to end ≥ 0.5× a bare forwarder, ≤ 0.5 CPU-ms per run).
  {
    bench: "e2e",
    metric: "sqlite.runs_per_s_ratio_to_bare",
    op: ">=",
    threshold: 0.5,
    source: "product target, issue 18",
  },
  { bench: "e2e", metric: "sqlite.cpu_per_run", op: "<=", threshold: 0.5, source: "product target, issue 18" },
  { bench: "e2e", metric: "sqlite.ack_latency_p99", op: "<=", threshold: 25, source: "issue 18" },
  { bench: "e2e", metric: "sqlite.ingest_ahead_of_completion", op: "<=", threshold: 10, source: "issue 18" },
  { bench: "e2e", metric: "sqlite.sustained.ack_latency_p99", op: "<=", threshold: 25, source: "issue 18" },
  {
    bench: "e2e",
    metric: "sqlite.sustained.ingest_ahead_of_completion",
    op: "<=",
    threshold: 10,
    source: "issue 18",
  },
  { bench: "e2e", metric: "postgres.runs_per_s_ratio_to_bare", op: ">=", threshold: 0.35, source: "issue 18" },
  { bench: "e2e", metric: /\.(lost|doubled)$/, op: "=", threshold: 0, source: "guarantees 1 and 2" },
  // Webhook ingest (the product targets: durable ingest ≥ 50% of bare node:http, p99 ≤ 25 ms).
  { bench: "ingest", metric: "sqlite.req_per_s_ratio_to_bare", op: ">=", threshold: 0.5, source: "product target" },
  { bench: "ingest", metric: "sqlite.latency_p99", op: "<=", threshold: 25, source: "product target" },
  { bench: "ingest", metric: /\.answered_2xx_not_stored$/, op: "=", threshold: 0, source: "guarantee 1" },
  {
    bench: "ingest",
    metric: /\.instrumentation_on_off_ratio$/,
    op: ">=",
    threshold: 0.95,
    source: "issue 14",
    optional: true,
  },
  // Outbound HTTP (issue 18: ≥ 0.8× raw undici with audit on); drift learning costs ≤ 3% (docs/drift.md).
  { bench: "http", metric: "tenon.req_per_s_ratio_to_raw", op: ">=", threshold: 0.8, source: "issue 18" },
  {
    bench: "http-drift",
    metric: "tenon_drift.req_per_s_ratio_to_tenon",
    op: ">=",
    threshold: 0.97,
    source: "docs/drift.md",
  },
  // The engine (issue 18: no regression below 9,000 runs/s on SQLite, ≥ 1.5× graphile-worker on PostgreSQL;
  // the product targets: ack to first step p50 ≤ 5 ms, p99 ≤ 50 ms under light load).
  { bench: "engine", metric: "sqlite.runs_per_s", op: ">=", threshold: 9000, source: "issue 18" },
  { bench: "engine", metric: "postgres.ratio_to_graphile_worker", op: ">=", threshold: 1.5, source: "issue 18" },
  { bench: "engine", metric: /\.light_load_first_step_p50$/, op: "<=", threshold: 5, source: "product target" },
  { bench: "engine", metric: /\.light_load_first_step_p99$/, op: "<=", threshold: 50, source: "product target" },
  {
    bench: "engine",
    metric: /\.instrumentation_on_off_ratio$/,
    op: ">=",
    threshold: 0.95,
    source: "issue 14",
    optional: true,
  },
  // Five open dashboards cost the engine ≤ 2% of its throughput (issue 16; BENCH_DASHBOARDS=5, docs/benchmarks.md).
  {
    bench: "engine",
    metric: /\.dashboards_on_off_ratio$/,
    op: ">=",
    threshold: 0.98,
    source: "issue 16",
    optional: true,
  },
  {
    bench: "engine",
    metric: /\.dashboard_polling_cpu_share_mean$/,
    op: "<=",
    threshold: 2,
    source: "issue 16",
    optional: true,
  },
  // The read API: every query ≤ 50 ms, median and p95 (docs/read-api.md).
  {
    bench: "api",
    metric: /^(sqlite|postgres)\.(runs|events)_.+_(p50|p95)$/,
    op: "<=",
    threshold: 50,
    source: "docs/read-api.md",
  },
  // The product targets: cold start to ready ≤ 1 s.
  {
    bench: "startup",
    metric: /^startup_(fresh|restart)_health_median$/,
    op: "<=",
    threshold: 1000,
    source: "product target",
  },
  // Retention prunes everything old and loses nothing acknowledged meanwhile (docs/guarantees.md).
  {
    bench: "retention",
    metric: /\.(acked_events_missing|old_runs_left)$/,
    op: "=",
    threshold: 0,
    source: "docs/guarantees.md",
  },
  // Issue 17: a reconciliation of 100,000 records per side grows the peak RSS by at most 100 MB.
  { bench: "reconcile", metric: / peak RSS growth$/, op: "<=", threshold: 100, source: "issue 17" },
];

/** Reads every `*.json` in `dir`; a file in neither shape is an error that names it. */
export function readResults(dir: string): ResultFile[] {
  const files = readdirSync(dir)
    .filter((file) => file.endsWith(".json"))
    .sort();
  return files.map((file) => {
    const path = join(dir, file);
    const parsed: unknown = JSON.parse(readFileSync(path, "utf8"));
    const list = Array.isArray(parsed) ? parsed : (parsed as { metrics?: unknown } | null)?.metrics;
    if (!Array.isArray(list) || !list.every(isMetric)) {
      throw new Error(
        `${path} is not a bench result: expected [{ name, value, unit }] or { metrics: [{ name, value, unit }] }`,
      );
    }
    return { bench: basename(file, ".json"), metrics: list, writtenAt: statSync(path).mtime };
  });
}

function isMetric(value: unknown): value is Metric {
  const m = value as Partial<Metric> | null;
  return typeof m?.name === "string" && typeof m.value === "number" && typeof m.unit === "string";
}

function matches(target: Target, bench: string, name: string): boolean {
  if (target.bench !== bench) return false;
  return typeof target.metric === "string" ? target.metric === name : target.metric.test(name);
}

function meets(target: Target, value: number): boolean {
  if (target.op === ">=") return value >= target.threshold;
  if (target.op === "<=") return value <= target.threshold;
  return value === target.threshold;
}

/** One row per figure, in the files' order; a figure with a target carries it and whether it was met. */
export function tableRows(files: ResultFile[]): Row[] {
  return files.flatMap((file) =>
    file.metrics.map((metric) => {
      const row: Row = { bench: file.bench, ...metric };
      const target = targets.find((t) => matches(t, file.bench, metric.name));
      if (!target) return row;
      const symbol = { ">=": "≥", "<=": "≤", "=": "=" }[target.op];
      const unit = metric.unit === "x" ? "×" : ` ${metric.unit}`;
      return {
        ...row,
        target: `${symbol} ${target.threshold.toLocaleString("en-US")}${unit}`,
        met: meets(target, metric.value),
        source: target.source,
      };
    }),
  );
}

/**
 * Targets of a bench that has results, none of whose figures they match: a renamed figure, or one not measured
 * (optional targets, whose figure only a mode of the bench measures, aside).
 */
export function targetsWithoutFigures(files: ResultFile[]): Target[] {
  return targets.filter((target) => {
    if (target.optional) return false;
    const file = files.find((f) => f.bench === target.bench);
    return file !== undefined && !file.metrics.some((m) => matches(target, file.bench, m.name));
  });
}

const perRoundFigure = /^(rounds|phases)\./;

function formatValue(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (Number.isInteger(value)) return value.toLocaleString("en-US");
  return value.toLocaleString("en-US", { maximumFractionDigits: Math.abs(value) >= 100 ? 0 : 2 });
}

/**
 * The table as lines: bench, figure, value, unit, target, verdict. A bench's first row says when its file was
 * written, and a file written before `since` (not by this run) is marked so its figures are not mistaken for new.
 * Figures of single rounds or phases (`rounds.…`, `phases.…`) are counted, not listed.
 */
export function formatTable(files: ResultFile[], since?: Date): string[] {
  const rows = tableRows(files);
  const nameWidth = Math.max(6, ...rows.map((r) => r.name.length));
  const header = `${"bench".padEnd(11)} ${"figure".padEnd(nameWidth)} ${"value".padStart(12)} ${"unit".padEnd(12)} ${"target".padEnd(14)} verdict`;
  const lines = [header, "-".repeat(header.length + 16)];
  for (const file of files) {
    const stale = since !== undefined && file.writtenAt < since;
    lines.push(
      `${file.bench.padEnd(11)} (bench/results/${file.bench}.json, written ${file.writtenAt.toISOString()}${stale ? ", NOT by this run" : ""})`,
    );
    const own = rows.filter((r) => r.bench === file.bench);
    // bench:http's rounds and phases repeat its headline figures once per round: the file keeps them.
    const perRound = own.filter((r) => perRoundFigure.test(r.name) && r.met === undefined);
    for (const row of own.filter((r) => !perRound.includes(r))) {
      const verdict = row.met === undefined ? "" : `${row.met ? "PASS" : "MISS"} (${row.source})`;
      lines.push(
        `${"".padEnd(11)} ${row.name.padEnd(nameWidth)} ${formatValue(row.value).padStart(12)} ${row.unit.padEnd(12)} ${(row.target ?? "").padEnd(14)} ${verdict}`.trimEnd(),
      );
    }
    if (perRound.length > 0)
      lines.push(`${"".padEnd(11)} (${perRound.length} figures per round or phase: in the file)`);
  }
  return lines;
}
