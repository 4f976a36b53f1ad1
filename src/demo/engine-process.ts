import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import type { EngineMessage, SupervisorMessage } from "./dev-engine-messages.ts";
import type { EngineCounts } from "./engine-summary.ts";

export type StartOutcome = { address: string; webhookSources: string[] } | { failure: string };

/** One engine process of `tenon dev`, as its supervisor sees it (the process side: src/cli/commands/dev-engine.ts). */
export interface EngineProcess {
  /** Settles once the code is loaded and checked: undefined, or why it failed. */
  readonly loaded: Promise<string | undefined>;
  /** Settles when the process has exited, however: "exit code 1", "signal SIGKILL". */
  readonly exited: Promise<string>;
  /** Starts the worker, schedules, polls and HTTP server; call it after `loaded` said yes. */
  start(): Promise<StartOutcome>;
  /** Its counts for the summary; undefined if it does not answer within `timeoutMs`. */
  count(timeoutMs?: number): Promise<EngineCounts | undefined>;
  /** Graceful: the HTTP server closes, the steps in flight finish (SIGTERM). Settles once it has exited. */
  stop(): Promise<void>;
  /** At once, for a supervisor that is exiting without waiting. */
  kill(): void;
}

/**
 * Starts `tenon dev-engine` the way this process was started (`process.argv[1]` is the tenon bin), with
 * this process's environment: the sandbox's credentials, the database and the port are in it. Its
 * output lines (an integration's console.log, a crash's stack) go to `onOutput`.
 */
export function spawnEngineProcess(options: {
  configPath: string;
  logPath: string;
  env: NodeJS.ProcessEnv;
  onOutput: (line: string) => void;
}): EngineProcess {
  const bin = process.argv[1];
  if (bin === undefined) throw new Error("cannot start the engine process: process.argv[1] (the tenon bin) is unset");
  const child = spawn(process.execPath, [bin, "dev-engine", "--config", options.configPath, "--log", options.logPath], {
    env: options.env,
    stdio: ["ignore", "pipe", "pipe", "ipc"],
  });
  for (const stream of [child.stdout, child.stderr]) {
    if (stream) createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY }).on("line", options.onOutput);
  }
  // "close", not "exit": its last output lines (a crash's stack) are shown before the news that it exited.
  const exited = new Promise<string>((resolve) => {
    child.once("close", (code, signal) => resolve(signal ? `signal ${signal}` : `exit code ${code}`));
  });
  // A process that fails to spawn at all emits "error", and maybe no "close".
  const spawnFailed = new Promise<string>((resolve) => {
    child.once("error", (error) => resolve(`could not start: ${error.message}`));
  });
  const gone = Promise.race([exited, spawnFailed]);

  // Each waiter gets every message until it picks one, or learns the process is gone.
  const waiters = new Set<(message: EngineMessage | { gone: string }) => boolean>();
  child.on("message", (message: EngineMessage) => {
    for (const waiter of waiters) if (waiter(message)) waiters.delete(waiter);
  });
  gone.then((how) => {
    for (const waiter of waiters) waiter({ gone: how });
    waiters.clear();
  });
  const next = <T>(pick: (message: EngineMessage) => T | undefined) => {
    let waiter: (message: EngineMessage | { gone: string }) => boolean = () => false;
    const promise = new Promise<T | { gone: string }>((resolve) => {
      waiter = (message) => {
        const picked = "gone" in message ? message : pick(message);
        if (picked !== undefined) resolve(picked);
        return picked !== undefined;
      };
    });
    waiters.add(waiter);
    return { promise, cancel: () => waiters.delete(waiter) };
  };

  const loaded = next((message) => {
    if (message.type === "loaded") return { failure: undefined };
    if (message.type === "load-failed") return { failure: message.message };
    return undefined;
  }).promise.then((outcome) =>
    "gone" in outcome ? `the engine process stopped while loading (${outcome.gone})` : outcome.failure,
  );

  return {
    loaded,
    exited: gone,
    async start() {
      const outcome = next<StartOutcome>((message) => {
        if (message.type === "ready") return { address: message.address, webhookSources: message.webhookSources };
        if (message.type === "start-failed") return { failure: message.message };
        return undefined;
      });
      tell(child, { type: "start" });
      const result = await outcome.promise;
      return "gone" in result ? { failure: `the engine process stopped while starting (${result.gone})` } : result;
    },
    async count(timeoutMs = 2000) {
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), timeoutMs);
      });
      const answer = next((message) => (message.type === "counts" ? message.counts : undefined));
      tell(child, { type: "count" });
      const result = await Promise.race([answer.promise, timedOut]);
      clearTimeout(timer);
      answer.cancel();
      return result === undefined || "gone" in result ? undefined : result;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await gone;
    },
    kill() {
      child.kill("SIGKILL");
    },
  };
}

/** A process that is exiting has no channel left; the waiters learn that it is gone, so the error is dropped here. */
function tell(child: ChildProcess, message: SupervisorMessage): void {
  if (child.connected) child.send(message, () => {});
}
