import { currentScope, runInScope } from "./execution-scope.ts";
import type { HeldAudit } from "./held-audit.ts";

/**
 * The run being executed right now, carried across awaits, outside its steps as well as in them: log lines
 * written while a run executes carry its id (observability/logger.ts), and outbound spans its integration.
 */
export interface RunScope {
  readonly runId: string;
  readonly integrationId: string;
  /** The event that started the run: a payload schema checked while it executes is that source's and type's. */
  readonly event: { readonly source: string; readonly type: string };
  /**
   * Where the audit trail holds the records of the run's exchanges until its next transition writes them, in the
   * same transaction (held-audit.ts); absent, they go the audit trail's buffered way.
   */
  readonly audit?: HeldAudit;
}

export function currentRun(): RunScope | undefined {
  return currentScope()?.run;
}

export function runInRun<T>(scope: RunScope, fn: () => T): T {
  return runInScope({ run: scope, step: undefined }, fn);
}
