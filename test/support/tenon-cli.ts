import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const tenonBin = fileURLToPath(new URL("../../bin/tenon.js", import.meta.url));

export interface CliResult {
  code: number | null;
  /** The signal that ended it, if one did (a test that kills it). */
  signal?: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A process still running: its output so far, and its result once it ends. */
export interface RunningCli {
  child: ChildProcess;
  readonly stdout: string;
  readonly stderr: string;
  done: Promise<CliResult>;
}

/**
 * Runs the real `tenon` CLI in `cwd` as a child process, with none of our TENON_* variables but those in
 * `env`, `stdin` piped in, and stdout a pipe (not a terminal).
 */
export function runTenonCli(cwd: string, args: string[], env: Record<string, string>, stdin = ""): Promise<CliResult> {
  return startTenonCli(cwd, args, env, stdin).done;
}

/** As runTenonCli, but hands the process over while it runs (to watch its progress, or to kill it). */
export function startTenonCli(cwd: string, args: string[], env: Record<string, string>, stdin = ""): RunningCli {
  return startProcess(process.execPath, [tenonBin, ...args], { cwd, env, stdin });
}

/** Runs `executable` to its end, as runTenonCli does: our environment minus TENON_*, plus `env`. */
export function runProcess(
  executable: string,
  args: string[],
  options: { cwd: string; env?: Record<string, string>; stdin?: string },
): Promise<CliResult> {
  return startProcess(executable, args, options).done;
}

function startProcess(
  executable: string,
  args: string[],
  options: { cwd: string; env?: Record<string, string> | undefined; stdin?: string | undefined },
): RunningCli {
  const inherited: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && !name.startsWith("TENON_")) inherited[name] = value;
  }
  const child = spawn(executable, args, {
    cwd: options.cwd,
    env: { ...inherited, ...options.env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  const output = { stdout: "", stderr: "" };
  child.stdout.on("data", (chunk) => {
    output.stdout += chunk;
  });
  child.stderr.on("data", (chunk) => {
    output.stderr += chunk;
  });
  child.stdin.end(options.stdin ?? "");
  const done = new Promise<CliResult>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code, signal) => resolve({ code, signal, ...output }));
  });
  return {
    child,
    get stdout() {
      return output.stdout;
    },
    get stderr() {
      return output.stderr;
    },
    done,
  };
}
