import type { EngineCounts } from "./engine-summary.ts";

/**
 * What `tenon dev`'s engine process tells the supervisor over their IPC channel: the new code loaded
 * and checked (or why not), then, once told to start, that it serves (or why not), and its counts.
 */
export type EngineMessage =
  | { type: "loaded" }
  | { type: "load-failed"; message: string }
  | { type: "ready"; address: string; webhookSources: string[] }
  | { type: "start-failed"; message: string }
  | { type: "counts"; counts: EngineCounts };

/**
 * What the supervisor asks of it: start (once the previous engine has stopped: one process runs the
 * worker of a SQLite file), and its counts for the summary. It stops on SIGTERM.
 */
export type SupervisorMessage = { type: "start" } | { type: "count" };
