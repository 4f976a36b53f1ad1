/**
 * Every bench in turn, each in a child process, then one table of all their figures beside the targets
 * (bench/results-table.ts): `npm run bench`.
 *
 *   npm run bench                       # every bench at its full size (10–20 minutes on an idle machine)
 *   BENCH_QUICK=1 npm run bench         # short durations and small sizes: a few minutes, for a look, not a verdict
 *   BENCH_SCRIPTS=ingest,e2e npm run bench
 *
 * The benches are the package's `bench:<name>` scripts, each run as `npm run bench:<name>` (so with the flags its
 * script gives node, such as bench:reconcile's --expose-gc): engine, ingest, http, api, startup, retention, e2e,
 * reconcile, then any other in the order package.json lists them.
 *
 * Knobs (environment):
 *   BENCH_QUICK     1: each bench gets short durations and small sizes (below); a knob set in the environment wins.
 *                   BENCH_QUICK=1 is passed on, so a bench can read it itself
 *   BENCH_SCRIPTS   comma-separated subset of the benches (default all); the table still shows every file in
 *                   bench/results, those not written by this run marked so
 * Every other knob in the environment reaches every bench (BENCH_DURATION_S applies to each that has it), except
 * BENCH_ONLY, which means something different to each bench and is not passed on.
 *
 * Exits 1 when a bench failed (its checks: something lost, doubled or unanswered); a missed target is a figure,
 * not a failure.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { formatTable, readResults, tableRows, targetsWithoutFigures } from "./results-table.ts";

const benchDir = dirname(fileURLToPath(import.meta.url));

/** The known benches in the order they run, with what BENCH_QUICK=1 gives each. */
const quickSettings: Record<string, Record<string, string>> = {
  engine: { BENCH_EVENTS: "2000", BENCH_LIGHT_EVENTS: "50" },
  ingest: { BENCH_DURATION_S: "3", BENCH_WARMUP_S: "1" },
  http: { BENCH_DURATION_S: "2", BENCH_WARMUP_S: "1", BENCH_ROUNDS: "1" },
  api: { BENCH_API_ROWS: "100000", BENCH_API_REPEAT: "10" },
  startup: { BENCH_RUNS: "3" },
  retention: { BENCH_RETENTION_RUNS: "10000", BENCH_BASELINE_S: "3", BENCH_WARMUP_S: "1" },
  e2e: { BENCH_DURATION_S: "3", BENCH_WARMUP_S: "1" },
  reconcile: { BENCH_RECONCILE_RECORDS: "20000" },
};

const quick = process.env.BENCH_QUICK === "1";
const available = benchScripts();
const chosen = chooseBenches(process.env.BENCH_SCRIPTS);

/** The `bench:<name>` scripts of package.json: the known ones in their order, then the others. */
function benchScripts(): string[] {
  const manifest = JSON.parse(readFileSync(join(benchDir, "..", "package.json"), "utf8")) as {
    scripts?: Record<string, string>;
  };
  const names = Object.keys(manifest.scripts ?? {}).flatMap((script) =>
    script.startsWith("bench:") ? [script.slice("bench:".length)] : [],
  );
  const known = Object.keys(quickSettings).filter((name) => names.includes(name));
  return [...known, ...names.filter((name) => !known.includes(name))];
}

function chooseBenches(raw: string | undefined): string[] {
  if (raw === undefined || raw.trim() === "") return available;
  const names = raw.split(",").map((s) => s.trim());
  const unknown = names.filter((name) => !available.includes(name));
  if (unknown.length > 0) {
    throw new Error(
      `BENCH_SCRIPTS takes a comma-separated subset of ${available.join(",")}; unknown: ${unknown.join(", ")}`,
    );
  }
  return available.filter((name) => names.includes(name));
}

/** Runs `npm run bench:<name>` with its output on this terminal; resolves with its exit code and wall time. */
function runBench(name: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; seconds: number }> {
  const started = performance.now();
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  const child = spawn(npm, ["run", "--silent", `bench:${name}`], {
    cwd: join(benchDir, ".."),
    env,
    stdio: ["ignore", "inherit", "inherit"],
  });
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, seconds: (performance.now() - started) / 1000 }));
  });
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const { BENCH_ONLY, ...inherited } = process.env;
  if (BENCH_ONLY !== undefined) {
    console.log(
      `BENCH_ONLY=${BENCH_ONLY} is not passed on: it means something different to each bench (run one alone)`,
    );
  }
  console.log(
    `npm run bench: ${chosen.join(", ")}${quick ? " (BENCH_QUICK=1: short runs, figures for a look only)" : ""}; ` +
      `load average (1 min) at start: ${loadavg()[0]?.toFixed(2)}`,
  );
  const outcomes: { name: string; code: number | null; seconds: number }[] = [];
  for (const name of chosen) {
    console.log(`\n=== bench:${name} ${"=".repeat(100 - name.length)}`);
    const env = { ...(quick ? quickSettings[name] : {}), ...inherited };
    outcomes.push({ name, ...(await runBench(name, env)) });
  }

  const files = readResults(join(benchDir, "results"));
  console.log(`\n=== all figures ${"=".repeat(100)}`);
  for (const line of formatTable(files, startedAt)) console.log(line);

  console.log("\nBenches:");
  for (const o of outcomes) {
    console.log(
      `  ${o.code === 0 ? "ok    " : "FAILED"} bench:${o.name} (${o.seconds.toFixed(0)} s${o.code === 0 ? "" : `, exit code ${o.code}`})`,
    );
  }
  const rerun = new Set(files.filter((f) => f.writtenAt >= startedAt).map((f) => f.bench));
  const withTargets = tableRows(files).filter((r) => r.met !== undefined);
  const fresh = withTargets.filter((r) => rerun.has(r.bench));
  const missed = fresh.filter((r) => !r.met);
  console.log(
    `\nTargets of this run's figures: ${fresh.length - missed.length} PASS, ${missed.length} MISS` +
      (withTargets.length > fresh.length
        ? ` (${withTargets.length - fresh.length} more in files this run did not write)`
        : ""),
  );
  for (const row of missed) {
    console.log(
      `  MISS ${row.bench}: ${row.name} = ${row.value.toLocaleString("en-US", { maximumFractionDigits: 2 })} ${row.unit}, target ${row.target} (${row.source})`,
    );
  }
  for (const target of targetsWithoutFigures(files)) {
    console.log(`  no figure in ${target.bench}.json for the target ${String(target.metric)} (${target.source})`);
  }
  console.log(
    `\nload average (1 min) at end: ${loadavg()[0]?.toFixed(2)}: on a busy machine every figure is lower; compare within one run`,
  );
  if (outcomes.some((o) => o.code !== 0)) process.exitCode = 1;
}

await main();
