import { currentScope, runInScope } from "./execution-scope.ts";
import type { LeaseFence } from "./lease-fence.ts";

/**
 * The step whose function is running right now, carried across awaits: the outbound client reads it
 * to tag audit records with the run and step, to send the step's idempotency key without the
 * author passing it along, and to stop sending once the worker's lease on the run has lapsed.
 */
export interface StepScope {
  runId: string;
  stepName: string;
  idempotencyKey: string;
  attempt: number;
  /** Non-GET requests made so far in this attempt: each gets its own key, the same on every attempt. */
  writes: number;
  /** The worker's view of its lease on the run: no request goes out once it has lapsed. */
  fence?: LeaseFence;
}

export function currentStep(): StepScope | undefined {
  return currentScope()?.step;
}

/** Runs `fn` as the step, within the run being executed (if any). */
export function runInStep<T>(scope: StepScope, fn: () => T): T {
  return runInScope({ run: currentScope()?.run, step: scope }, fn);
}

/**
 * The idempotency key for the step's next write. The first write uses the step's key itself (what a
 * provider's dashboard shows next to the step), later ones `key:2`, `key:3`, …: deterministic, because
 * a step's calls happen in the same order on every attempt.
 */
export function nextWriteKey(scope: StepScope): string {
  scope.writes += 1;
  return scope.writes === 1 ? scope.idempotencyKey : `${scope.idempotencyKey}:${scope.writes}`;
}
