import { type EngineProcess, spawnEngineProcess } from "./engine-process.ts";
import type { EngineCounts } from "./engine-summary.ts";

export interface DevSupervisor {
  /** Settles once the first engine serves, or failed to start (it then starts at the next change). */
  readonly started: Promise<void>;
  /** Replaces the engine with one running the code now on disk, if that code loads; `changed` says why. */
  reload(changed: string[]): void;
  /** The running engine's counts, or the last known ones while none runs. */
  counts(): Promise<EngineCounts>;
  /** One line for the summary: what runs since when, or why nothing does. */
  status(): string;
  /** Stops the engine gracefully (the steps in flight finish), and any replacement being loaded. */
  stop(): Promise<void>;
  /** Kills the engine processes at once: the supervisor is exiting without waiting. */
  kill(): void;
}

/**
 * Runs `tenon dev`'s engine in a child process and replaces it when the project changes. The new code
 * is loaded and checked in a new process while the old one keeps running; only if it loads does the old
 * one stop (one process runs the worker of a SQLite file) and the new one start on the same database and
 * port. Runs in flight resume from their journal in the new process: a sleeping run wakes there.
 */
export function startDevSupervisor(options: {
  configPath: string;
  logPath: string;
  env: NodeJS.ProcessEnv;
  /** Messages for the developer: reloaded, reload failed, crashed, and the engine's own output. */
  say: (message: string) => void;
  /** Each new engine serves: the sandbox's webhooks go to its address. */
  onReady: (address: string, webhookSources: string[]) => void;
}): DevSupervisor {
  const { say } = options;
  let current: EngineProcess | undefined;
  let candidate: EngineProcess | undefined;
  let lastCounts: EngineCounts = {
    events: {},
    runs: {},
    connections: [],
    alerts: { firing: [], resolved: 0 },
    reconciliations: [],
  };
  let status = "starting";
  let stopping = false;
  let reloading: Promise<void> | undefined;
  let pending: string[] = [];

  const replace = async (changed: string[] | undefined) => {
    const startedAt = Date.now();
    const why = changed === undefined ? "" : ` after ${describeChanges(changed)} changed`;
    const next = spawnEngineProcess({ ...options, onOutput: say });
    candidate = next;
    const loadFailure = await next.loaded;
    if (stopping) return;
    if (loadFailure !== undefined) {
      candidate = undefined;
      const still = current ? "still running the previous version" : "no engine is running until a save that loads";
      say(`${changed === undefined ? "start" : "reload"} failed${why}; ${still}:\n${indent(loadFailure)}`);
      if (!current) status = "not running: its code does not load (see above)";
      return;
    }
    const replaced = current;
    if (replaced) {
      // Forgotten first, so its exit is not taken for a crash.
      current = undefined;
      status = "reloading: the previous version finishes its steps in flight";
      await replaced.stop();
    }
    const started = await next.start();
    candidate = undefined;
    if (stopping) return;
    if ("failure" in started) {
      const what = changed === undefined ? "start" : "reload";
      say(`${what} failed${why}; no engine is running until the next save:\n${indent(started.failure)}`);
      status = "not running: it failed to start (see above)";
      return;
    }
    current = next;
    options.onReady(started.address, started.webhookSources);
    const took = `${Date.now() - startedAt} ms`;
    const verb = changed === undefined ? "started" : replaced === undefined ? "restarted" : "reloaded";
    say(`${verb} in ${took}${why}`);
    status = `running since ${new Date().toTimeString().slice(0, 8)}${why}`;
    next.exited.then((how) => {
      if (current !== next || stopping) return;
      current = undefined;
      say(`the engine stopped by itself (${how}); it restarts when a file changes`);
      status = `not running: it stopped by itself (${how}) and restarts when a file changes`;
    });
  };

  /** One replacement at a time; the changes saved meanwhile make one more, after it. */
  const run = (changed: string[] | undefined): Promise<void> => {
    const replacing = replace(changed);
    reloading = replacing.finally(() => {
      reloading = undefined;
      if (pending.length === 0 || stopping) return;
      const next = pending;
      pending = [];
      run(next);
    });
    return replacing;
  };

  const reload = (changed: string[]) => {
    if (stopping) return;
    if (reloading) pending.push(...changed);
    else run(changed);
  };

  const started = run(undefined);
  return {
    started,
    reload,
    async counts() {
      const counts = await current?.count();
      if (counts) lastCounts = counts;
      return lastCounts;
    },
    status: () => status,
    async stop() {
      stopping = true;
      status = "stopping: the steps in flight finish";
      await candidate?.stop();
      await reloading;
      await current?.stop();
    },
    kill() {
      candidate?.kill();
      current?.kill();
    },
  };
}

/** "src/order-sync.ts", "src/a.ts and src/b.ts", "src/a.ts and 3 other files". */
function describeChanges(changed: string[]): string {
  const unique = [...new Set(changed)];
  const [first, second] = unique;
  if (unique.length === 1 || second === undefined) return first ?? "a file";
  if (unique.length === 2) return `${first} and ${second}`;
  return `${first} and ${unique.length - 1} other files`;
}

function indent(text: string): string {
  return text
    .split("\n")
    .map((line) => `  ${line}`)
    .join("\n");
}
