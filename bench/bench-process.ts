/**
 * The child processes of a bench: servers, sinks and load generators each run in their own process, so none shares
 * the event loop of what it measures. A child speaks JSON lines on stdout (anything else it prints there is passed on
 * to stderr) and logs on stderr.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

/** Linux reports process CPU time in clock ticks of 1/100 s (`getconf CLK_TCK`). */
const clockTicksPerS = 100;
const benchDir = dirname(fileURLToPath(import.meta.url));

export interface Child {
  process: ChildProcess;
  /** JSON lines the child printed on stdout, in order; `next()` waits for the following one. */
  next(timeoutMs: number): Promise<Record<string, unknown>>;
  exited: Promise<number | null>;
}

/** Runs `bench/<script>` under tsx with `args`, the environment plus `env`, and `nodeArgs` (e.g. --cpu-prof). */
export function spawnScript(
  script: string,
  args: string[],
  env: Record<string, string>,
  nodeArgs: string[] = [],
): Child {
  const child = spawn(process.execPath, [...nodeArgs, "--import", "tsx", join(benchDir, script), ...args], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines: Record<string, unknown>[] = [];
  const waiters: ((line: Record<string, unknown>) => void)[] = [];
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (text) => {
    let line: Record<string, unknown>;
    try {
      line = JSON.parse(text) as Record<string, unknown>;
    } catch {
      process.stderr.write(`  [${script}] ${text}\n`);
      return;
    }
    const waiter = waiters.shift();
    if (waiter) waiter(line);
    else lines.push(line);
  });
  const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  return {
    process: child,
    exited,
    next(timeoutMs) {
      const ready = lines.shift();
      if (ready) return Promise.resolve(ready);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${script}: no output within ${timeoutMs} ms`)), timeoutMs);
        const waiter = (line: Record<string, unknown>) => {
          clearTimeout(timer);
          resolve(line);
        };
        waiters.push(waiter);
        void exited.then((code) => {
          clearTimeout(timer);
          const index = waiters.indexOf(waiter);
          if (index !== -1) {
            waiters.splice(index, 1);
            reject(new Error(`${script} exited (code ${code}) before printing what was expected`));
          }
        });
      });
    },
  };
}

/** SIGTERM, then SIGKILL if it has not exited after `graceMs`; resolves true when it exited by itself with code 0. */
export async function stopChild(child: Child, graceMs: number): Promise<boolean> {
  if (child.process.exitCode !== null) return child.process.exitCode === 0;
  child.process.kill("SIGTERM");
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([
    child.exited,
    new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), graceMs);
    }),
  ]);
  clearTimeout(timer);
  if (code !== "timeout") return code === 0;
  child.process.kill("SIGKILL");
  await child.exited;
  return false;
}

/** User + system CPU seconds a live process has used so far (Linux /proc); undefined elsewhere. */
export function cpuSeconds(pid: number | undefined): number | undefined {
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

/** The peak resident set of a live process so far, in MiB (VmHWM in Linux /proc); undefined elsewhere. */
export function peakRssMiB(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}
