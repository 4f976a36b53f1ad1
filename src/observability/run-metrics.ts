import type { ClaimedRun, RunTransition } from "../storage/contract.ts";
import { type StepOutcome, stepLabel, type TenonMetrics } from "./metrics.ts";

/** What one execution of a claimed run needs to be measured: its transitions and its steps' starts. */
export interface RunExecutionHooks {
  /** The transition function to execute the run with: the given one, observed. */
  transition: (t: RunTransition) => Promise<boolean>;
  /** A step's attempt begins (journal name, engine time). */
  stepStarting?: (name: string, at: number) => void;
}

/**
 * Measures one execution of a claimed run from the transitions it commits: only those that applied (a worker
 * that lost its lease records nothing, so a run is never counted twice). With metrics off, the transition
 * function is returned as it is and nothing else runs.
 */
export function observeRunExecution(
  metrics: TenonMetrics,
  run: ClaimedRun,
  transition: (t: RunTransition) => Promise<boolean>,
): RunExecutionHooks {
  if (!metrics.enabled) return { transition };
  const integration = metrics.integration(run.integrationId);
  /** Steps whose attempt started and has not ended: the ones a wait, pause or interruption cuts short. */
  const inFlight = new Set<string>();
  let awaitingFirstStep = run.firstClaim;

  const endInFlight = (outcome: StepOutcome) => {
    for (const name of inFlight) integration.stepAttempt(stepLabel(name), outcome);
    inFlight.clear();
  };

  const observe = (t: RunTransition) => {
    switch (t.kind) {
      case "recordStep":
        inFlight.delete(t.name);
        integration.stepAttempt(stepLabel(t.name), "succeeded");
        return;
      case "completeRun":
        integration.runEnded("succeeded", (t.now - run.createdAt) / 1000);
        return;
      case "retryRun":
      case "finishRunWithError":
        if (t.stepFailure) {
          inFlight.delete(t.stepFailure.name);
          integration.stepAttempt(stepLabel(t.stepFailure.name), "failed");
        }
        inFlight.clear();
        if (t.kind === "finishRunWithError") integration.runEnded(t.status, (t.now - run.createdAt) / 1000);
        return;
      case "waitRun":
        endInFlight("waited");
        return;
      case "pauseRun":
        endInFlight("paused");
        return;
      case "interruptRun":
        endInFlight("interrupted");
        return;
      default:
        inFlight.clear();
    }
  };

  return {
    transition: async (t) => {
      const applied = await transition(t);
      if (applied) observe(t);
      return applied;
    },
    stepStarting: (name, at) => {
      inFlight.add(name);
      if (!awaitingFirstStep) return;
      awaitingFirstStep = false;
      integration.scheduleToStart(Math.max(0, at - run.availableAt) / 1000);
    },
  };
}
