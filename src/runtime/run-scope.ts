import { currentScope, runInScope } from "./execution-scope.ts";

/**
 * The run being executed right now, carried across awaits, outside its steps as well as in them: log lines
 * written while a run executes carry its id (observability/logger.ts), and outbound spans its integration.
 */
export interface RunScope {
  readonly runId: string;
  readonly integrationId: string;
  /** The event that started the run: a payload schema checked while it executes is that source's and type's. */
  readonly event: { readonly source: string; readonly type: string };
}

export function currentRun(): RunScope | undefined {
  return currentScope()?.run;
}

export function runInRun<T>(scope: RunScope, fn: () => T): T {
  return runInScope({ run: scope, step: undefined }, fn);
}
