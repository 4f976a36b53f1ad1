import type { ClaimedRun, RunTransition } from "../storage/contract.ts";
import { type IntegrationMetrics, type StepOutcome, stepLabel, type TenonMetrics } from "./metrics.ts";

/** One execution of a claimed run, as far as measuring it goes. */
interface Execution {
  leaseToken: string;
  integration: IntegrationMetrics;
  createdAt: number;
  availableAt: number;
  awaitingFirstStep: boolean;
  /** Steps whose attempt started and has not ended: the ones a wait, pause or interruption cuts short. */
  inFlight: Set<string> | undefined;
}

/**
 * Measures run executions from the transitions they commit: only those that applied (a worker that lost its
 * lease records nothing, so a run is never counted twice). The engine reads every committed batch of
 * transitions once (`committed`), so measuring adds no promise and no closure per run or per transition:
 * the worker brackets each execution (`begin`, `end`) and execute-run reports each step's start.
 * Executions are kept by run id with their lease token (one token serves a whole claim batch): a stale
 * execution of a run, whose transitions no longer apply, neither counts nor removes the current one's entry.
 */
export class RunObserver {
  readonly #metrics: TenonMetrics;
  readonly #executions = new Map<string, Execution>();

  constructor(metrics: TenonMetrics) {
    this.#metrics = metrics;
  }

  begin(run: ClaimedRun): void {
    this.#executions.set(run.id, {
      leaseToken: run.leaseToken,
      integration: this.#metrics.integration(run.integrationId),
      createdAt: run.createdAt,
      availableAt: run.availableAt,
      awaitingFirstStep: run.firstClaim,
      inFlight: undefined,
    });
  }

  end(run: ClaimedRun): void {
    if (this.#executions.get(run.id)?.leaseToken === run.leaseToken) this.#executions.delete(run.id);
  }

  /** A step's attempt begins (journal name, engine time). */
  stepStarting(run: ClaimedRun, name: string, at: number): void {
    const execution = this.#executions.get(run.id);
    if (execution?.leaseToken !== run.leaseToken) return;
    execution.inFlight ??= new Set();
    execution.inFlight.add(name);
    if (!execution.awaitingFirstStep) return;
    execution.awaitingFirstStep = false;
    execution.integration.scheduleToStart(Math.max(0, at - execution.availableAt) / 1000);
  }

  /** A batch of transitions was committed: `applied[i]` tells whether `transitions[i]` took effect. */
  committed(transitions: readonly RunTransition[], applied: readonly boolean[]): void {
    for (let i = 0; i < transitions.length; i++) {
      if (!applied[i]) continue;
      const t = transitions[i] as RunTransition;
      const execution = this.#executions.get(t.runId);
      if (execution?.leaseToken === t.leaseToken) observe(execution, t);
    }
  }
}

function observe(execution: Execution, t: RunTransition): void {
  const { integration, inFlight } = execution;
  switch (t.kind) {
    case "recordStep":
      inFlight?.delete(t.name);
      integration.stepAttempt(stepLabel(t.name), "succeeded");
      return;
    case "completeRun":
      integration.runEnded("succeeded", (t.now - execution.createdAt) / 1000);
      return;
    case "retryRun":
    case "finishRunWithError":
      if (t.stepFailure) {
        inFlight?.delete(t.stepFailure.name);
        integration.stepAttempt(stepLabel(t.stepFailure.name), "failed");
      }
      inFlight?.clear();
      if (t.kind === "finishRunWithError") integration.runEnded(t.status, (t.now - execution.createdAt) / 1000);
      return;
    case "waitRun":
      endInFlight(execution, "waited");
      return;
    case "pauseRun":
      endInFlight(execution, "paused");
      return;
    case "interruptRun":
      endInFlight(execution, "interrupted");
      return;
    default:
      inFlight?.clear();
  }
}

function endInFlight(execution: Execution, outcome: StepOutcome): void {
  if (!execution.inFlight) return;
  for (const name of execution.inFlight) execution.integration.stepAttempt(stepLabel(name), outcome);
  execution.inFlight.clear();
}
