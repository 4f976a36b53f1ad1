/**
 * Start-up benchmark: how long `tenon start --config examples/tenon.config.ts` takes from spawn to ready, on
 * SQLite, against a sandbox this script runs. Ready means `/health` answers 200; the time of the "ready" log line
 * is printed beside it.
 *
 *   npm run bench:startup                  # 5 runs each: a fresh database, then a restart on it (a crash loop)
 *   BENCH_RUNS=9 npm run bench:startup
 *   BENCH_BASELINE=../tenon-main npm run bench:startup   # the same, alternating with another checkout
 *
 * Knobs (environment):
 *   BENCH_RUNS         runs per case; the median is reported (default 5)
 *   BENCH_BASELINE     another checkout of Tenon (with its node_modules) to compare with: its runs alternate with
 *                      this tree's, so both see the same load
 *   BENCH_CPU_PROF     1: each `tenon start` runs with --cpu-prof; the .cpuprofile files are kept in a temp dir
 *   TSX_DISABLE_CACHE  1: tsx compiles every TypeScript file again, as in a fresh container where its cache
 *                      ($TMPDIR/tsx-<uid>) is empty
 *
 * The machine's load changes the figures a lot (a busy machine doubles them): note it beside them, and compare
 * checkouts with BENCH_BASELINE rather than across runs. Writes bench/results/startup.json (this tree's medians).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { builtInSystems, createSandbox, sandboxEnvironment } from "../src/sandbox/index.ts";
import { intEnv } from "./bench-env.ts";

interface Metric {
  name: string;
  value: number;
  unit: string;
}

interface StartTiming {
  /** Spawn to the "ready" log line. */
  readyLogMs: number;
  /** Spawn to the first 200 from /health. */
  healthMs: number;
  /** CPU time (user + system, all threads) the process had used when /health answered; less noisy on a busy machine. */
  cpuMs: number | undefined;
}

const runs = intEnv("BENCH_RUNS", 5);
const cpuProfile = process.env.BENCH_CPU_PROF === "1";
const root = dirname(dirname(fileURLToPath(import.meta.url)));
const resultsFile = join(root, "bench", "results", "startup.json");
const startTimeoutMs = 60_000;
/** USER_HZ: 100 on every Linux Node supports. */
const clockTicksPerSecond = 100;

/** A checkout of Tenon whose `tenon start` is timed, and what was measured on it. */
interface Target {
  label: string;
  root: string;
  fresh: StartTiming[];
  restart: StartTiming[];
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  if (sorted.length % 2 === 1) return sorted[middle] as number;
  return ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/** A port nobody listens on right now: bound to 0, then released for the child to take. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => {
        if (typeof address === "object" && address) resolve(address.port);
        else reject(new Error("no port"));
      });
    });
  });
}

/** Spawns `tenon start` of `target`, waits until it is ready, stops it with SIGTERM and returns the timings. */
async function timeStart(
  target: Target,
  cwd: string,
  env: Record<string, string>,
  profileDir: string | undefined,
): Promise<StartTiming> {
  const port = await freePort();
  const bin = join(target.root, "bin", "tenon.js");
  const config = join(target.root, "examples", "tenon.config.ts");
  const profiling = profileDir ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : [];
  const spawnedAt = performance.now();
  const child = spawn(process.execPath, [...profiling, bin, "start", "--config", config], {
    cwd,
    env: { ...env, TENON_HTTP_PORT: String(port) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  let readyLogMs: number | undefined;
  child.stdout.on("data", (chunk: Buffer) => {
    output += chunk.toString();
    if (readyLogMs === undefined && output.includes('"msg":"ready"')) readyLogMs = performance.now() - spawnedAt;
  });
  child.stderr.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  try {
    const healthMs = await pollHealth(port, spawnedAt, child, () => output);
    const cpuMs = cpuTimeMs(child.pid);
    await waitUntil(
      () => readyLogMs !== undefined,
      child,
      () => output,
    );
    return { readyLogMs: readyLogMs as number, healthMs, cpuMs };
  } finally {
    child.kill("SIGTERM");
    const code = await exited;
    if (code !== 0 && code !== null) console.error(`tenon start exited with ${code}:\n${output}`);
  }
}

async function pollHealth(port: number, spawnedAt: number, child: ChildProcess, output: () => string): Promise<number> {
  while (performance.now() - spawnedAt < startTimeoutMs) {
    if (child.exitCode !== null) throw new Error(`tenon start exited with ${child.exitCode}:\n${output()}`);
    const answered = await fetch(`http://127.0.0.1:${port}/health`).then(
      (response) => response.status === 200,
      () => false,
    );
    if (answered) return performance.now() - spawnedAt;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`tenon start was not healthy after ${startTimeoutMs} ms:\n${output()}`);
}

async function waitUntil(condition: () => boolean, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = performance.now() + 5000;
  while (!condition()) {
    if (performance.now() > deadline || child.exitCode !== null) {
      throw new Error(`no "ready" log line from tenon start:\n${output()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** utime + stime of a live process, from /proc (Linux); undefined elsewhere. */
function cpuTimeMs(pid: number | undefined): number | undefined {
  if (pid === undefined || !existsSync(`/proc/${pid}/stat`)) return undefined;
  // The command name (field 2) is in parentheses and may hold spaces; utime and stime are fields 14 and 15.
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8")
    .replace(/^.*\) /, "")
    .split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1000) / clockTicksPerSecond;
}

function cpuTimes(timings: StartTiming[]): number[] {
  return timings.flatMap((timing) => (timing.cpuMs === undefined ? [] : [timing.cpuMs]));
}

function summary(timings: StartTiming[]): string {
  const health = timings.map((timing) => Math.round(timing.healthMs));
  const ready = median(timings.map((timing) => timing.readyLogMs));
  const cpu = cpuTimes(timings);
  const cpuPart = cpu.length > 0 ? `; CPU used by then median ${Math.round(median(cpu))} ms` : "";
  return `median ${Math.round(median(health))} ms to /health 200 (runs: ${health.join(", ")}); "ready" logged at median ${Math.round(ready)} ms${cpuPart}`;
}

function loadAverage(): string {
  return loadavg()
    .map((n) => n.toFixed(2))
    .join(" ");
}

async function main(): Promise<void> {
  const targets: Target[] = [{ label: "this tree", root, fresh: [], restart: [] }];
  const baseline = process.env.BENCH_BASELINE;
  if (baseline) targets.push({ label: `baseline ${baseline}`, root: resolve(baseline), fresh: [], restart: [] });
  const sandbox = createSandbox({ systems: builtInSystems });
  await sandbox.listen({ host: "127.0.0.1", port: 0 });
  const inherited: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && !name.startsWith("TENON_")) inherited[name] = value;
  }
  const env = { ...inherited, ...sandboxEnvironment(sandbox, Object.keys(builtInSystems)), TENON_LOG_LEVEL: "info" };
  const profileDir = cpuProfile ? mkdtempSync(join(tmpdir(), "tenon-startup-prof-")) : undefined;
  const [loadAtStart] = loadavg();
  console.log(
    `tenon start --config examples/tenon.config.ts (SQLite), ${runs} runs per case; load average ${loadAverage()}`,
  );
  try {
    for (let run = 0; run < runs; run++) {
      for (const target of targets) {
        const cwd = mkdtempSync(join(tmpdir(), "tenon-startup-"));
        try {
          const runEnv = { ...env, TENON_SQLITE_PATH: join(cwd, "tenon.db") };
          target.fresh.push(await timeStart(target, cwd, runEnv, profileDir));
          target.restart.push(await timeStart(target, cwd, runEnv, profileDir));
        } finally {
          rmSync(cwd, { recursive: true, force: true });
        }
      }
    }
  } finally {
    await sandbox.close();
  }
  for (const target of targets) {
    console.log(`${target.label}`);
    console.log(`  fresh database:    ${summary(target.fresh)}`);
    console.log(`  restart (same db): ${summary(target.restart)}`);
  }
  console.log(`load average at the end ${loadAverage()}`);
  if (profileDir) console.log(`CPU profiles in ${profileDir}`);
  const [own] = targets as [Target];
  const metrics: Metric[] = [];
  for (const [label, timings] of [
    ["fresh", own.fresh],
    ["restart", own.restart],
  ] as const) {
    const cpu = cpuTimes(timings);
    metrics.push(
      { name: `startup_${label}_health_median`, value: Math.round(median(timings.map((t) => t.healthMs))), unit: "ms" },
      {
        name: `startup_${label}_ready_log_median`,
        value: Math.round(median(timings.map((t) => t.readyLogMs))),
        unit: "ms",
      },
      ...(cpu.length > 0 ? [{ name: `startup_${label}_cpu_median`, value: Math.round(median(cpu)), unit: "ms" }] : []),
    );
  }
  // The figures double on a busy machine: this says how busy it was.
  metrics.push({ name: "load_average_1m_at_start", value: Number(loadAtStart?.toFixed(2)), unit: "processes" });
  mkdirSync(dirname(resultsFile), { recursive: true });
  writeFileSync(resultsFile, `${JSON.stringify(metrics, null, 2)}\n`);
}

await main();
