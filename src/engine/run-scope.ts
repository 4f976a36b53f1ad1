import { AsyncLocalStorage } from "node:async_hooks";

/**
 * The run being executed right now, carried across awaits, outside its steps as well as in them: log lines
 * written while a run executes carry its id (observability/logger.ts), and outbound spans its integration.
 */
export interface RunScope {
  runId: string;
  integrationId: string;
}

const scopes = new AsyncLocalStorage<RunScope>();

export function currentRun(): RunScope | undefined {
  return scopes.getStore();
}

export function runInRun<T>(scope: RunScope, fn: () => T): T {
  return scopes.run(scope, fn);
}
