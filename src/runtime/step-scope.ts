import { currentScope, runInScope } from "./execution-scope.ts";
import type { LeaseFence } from "./lease-fence.ts";

/**
 * The step whose function is running right now, carried across awaits: a read-only context that the engine
 * sets for each attempt of a step (`runInStep`) and code below it reads through `currentStep()`. The outbound
 * client reads it to tag audit records with the run and step, to send the step's idempotency key without the
 * author passing it along, and to stop sending once the worker's lease on the run has lapsed; connectors read
 * it for a check-then-act reference; the logger and the outbound span for the run, step and attempt. Nobody
 * changes it: the one thing that moves during an attempt is the count of its writes, through `nextWriteKey()`.
 */
export interface StepScope {
  readonly runId: string;
  readonly stepName: string;
  readonly idempotencyKey: string;
  readonly attempt: number;
  /** The worker's view of its lease on the run: no request goes out once it has lapsed. */
  readonly fence: LeaseFence | undefined;
  /**
   * The idempotency key for the step's next write, counting that write. The first write uses the step's key
   * itself (what a provider's dashboard shows next to the step), later ones `key:2`, `key:3`, …: deterministic,
   * because a step's calls happen in the same order on every attempt.
   */
  nextWriteKey(): string;
}

/** What the engine knows of an attempt of a step when it starts it: the scope is made from it. */
export interface StepScopeInit {
  runId: string;
  stepName: string;
  idempotencyKey: string;
  attempt: number;
  fence?: LeaseFence;
}

class AttemptScope implements StepScope {
  readonly runId: string;
  readonly stepName: string;
  readonly idempotencyKey: string;
  readonly attempt: number;
  readonly fence: LeaseFence | undefined;
  /** Non-GET requests and check-then-act calls made so far in this attempt: each gets its own key. */
  #writes = 0;

  constructor(attempt: StepScopeInit) {
    this.runId = attempt.runId;
    this.stepName = attempt.stepName;
    this.idempotencyKey = attempt.idempotencyKey;
    this.attempt = attempt.attempt;
    this.fence = attempt.fence;
    // Read-only for JavaScript callers too: what a connector does with the scope cannot change what the step's
    // later requests send (the write count is a private field, which freezing leaves writable).
    Object.freeze(this);
  }

  nextWriteKey(): string {
    this.#writes += 1;
    return this.#writes === 1 ? this.idempotencyKey : `${this.idempotencyKey}:${this.#writes}`;
  }
}

export function currentStep(): StepScope | undefined {
  return currentScope()?.step;
}

/** Runs `fn` as an attempt of the step, within the run being executed (if any); its writes are counted from 0. */
export function runInStep<T>(attempt: StepScopeInit, fn: () => T): T {
  return runInScope({ run: currentScope()?.run, step: new AttemptScope(attempt) }, fn);
}
