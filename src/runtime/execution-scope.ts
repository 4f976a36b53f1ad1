import { AsyncLocalStorage } from "node:async_hooks";
import type { RunScope } from "./run-scope.ts";
import type { StepScope } from "./step-scope.ts";

/**
 * The run and the step being executed right now, in ONE AsyncLocalStorage: on Node 20 every promise created
 * while a storage is active pays for each storage (async_hooks propagation), so the run scope and the step
 * scope share one rather than adding one each (run-scope.ts, step-scope.ts).
 */
export interface ExecutionScope {
  readonly run: RunScope | undefined;
  readonly step: StepScope | undefined;
}

const scopes = new AsyncLocalStorage<ExecutionScope>();

export function currentScope(): ExecutionScope | undefined {
  return scopes.getStore();
}

export function runInScope<T>(scope: ExecutionScope, fn: () => T): T {
  return scopes.run(scope, fn);
}
