import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const tenonBin = fileURLToPath(new URL("../../bin/tenon.js", import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the real `tenon` CLI in `cwd` as a child process, with none of our TENON_* variables but those in
 * `env`, `stdin` piped in, and stdout a pipe (not a terminal).
 */
export function runTenonCli(cwd: string, args: string[], env: Record<string, string>, stdin = ""): Promise<CliResult> {
  return runProcess(process.execPath, [tenonBin, ...args], { cwd, env, stdin });
}

/** Runs `executable` to its end, as runTenonCli does: our environment minus TENON_*, plus `env`. */
export function runProcess(
  executable: string,
  args: string[],
  options: { cwd: string; env?: Record<string, string>; stdin?: string },
): Promise<CliResult> {
  const inherited: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && !name.startsWith("TENON_")) inherited[name] = value;
  }
  const child = spawn(executable, args, {
    cwd: options.cwd,
    env: { ...inherited, ...options.env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk) => {
    stdout += chunk;
  });
  child.stderr.on("data", (chunk) => {
    stderr += chunk;
  });
  child.stdin.end(options.stdin ?? "");
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout, stderr }));
  });
}
