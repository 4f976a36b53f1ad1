import pino, { type DestinationStream, type Logger } from "pino";
import type { LogLevel } from "../config/settings.ts";
import { currentRun } from "../runtime/run-scope.ts";
import { currentStep } from "../runtime/step-scope.ts";
import { activeSpanIds } from "./tracing.ts";

/**
 * pino's `mixin`: every line written while a run executes carries `run_id` (and `step` inside a step), and
 * every line written under a span (a request, a run, a step) `trace_id` and `span_id`, so a log line leads to
 * its run and its trace. Read from the async context at each line: the code that logs passes none of it.
 */
export function logContext(): object {
  const step = currentStep();
  const run = currentRun();
  const span = activeSpanIds();
  // A new object each time: pino merges the line's own fields into what the mixin returns.
  if (step === undefined && run === undefined && span === undefined) return {};
  return {
    ...(run || step ? { run_id: step?.runId ?? run?.runId } : {}),
    ...(step ? { step: step.stepName } : {}),
    ...span,
  };
}

/**
 * The process's logger: JSON lines with the run and trace context (`logContext`), to `destination` or stdout.
 * On a terminal, stdout gets pino-pretty's readable lines instead; anything else (a pipe, a file, a log
 * collector, a test reading the lines) keeps JSON.
 */
export async function createLogger(options: { level: LogLevel; destination?: DestinationStream }): Promise<Logger> {
  const settings = { level: options.level, mixin: logContext };
  if (options.destination !== undefined) return pino(settings, options.destination);
  if (!process.stdout.isTTY) return pino(settings);
  // Loaded only for a terminal: no process that logs JSON pays for it.
  const { default: pretty } = await import("pino-pretty");
  return pino(settings, pretty({ colorize: true, sync: true }));
}
