/**
 * Every statement that changes a run's state, one file per verb, both dialects side by side (a statement written
 * once when they differ only in placeholders, see dialects.ts). docs/architecture.md lists the transitions with
 * their from → to statuses. The backends prepare (SQLite) or name (PostgreSQL) these statements and call the
 * verbs' functions; nothing else writes a run's status.
 */
import { markEventAccepted } from "./add-runs.ts";
import {
  claimDueRuns,
  claimSuspectRun,
  eventsOfClaimedRuns,
  journalOfClaimedRuns,
  recordClaims,
} from "./claim-runs.ts";
import { completeRun } from "./complete-run.ts";
import type { SqliteStatements } from "./dialects.ts";
import { insertRun, takeConcurrencySlot } from "./enqueue-runs.ts";
import { extendLeases } from "./extend-leases.ts";
import { finishRunWithError } from "./finish-run-with-error.ts";
import { interruptRun } from "./interrupt-run.ts";
import { connectionStatus, pauseRun } from "./pause-run.ts";
import { recordStepFailure } from "./record-failed-attempt.ts";
import { recordHistory } from "./record-history.ts";
import { recordStep } from "./record-step.ts";
import { forgetIdleConcurrencyKey, promoteOldestBlocked, releaseConcurrencySlot } from "./release-concurrency-slot.ts";
import { releaseRun } from "./release-run.ts";
import { replayRun, resetFailedSteps, runOfBulkReplay, runToReplay } from "./replay-run.ts";
import { eventInStatus, requalifyEvent, requarantineEvent } from "./requalify-event.ts";
import { recordAllInterruptions, requeueAllRunning } from "./requeue-abandoned-runs.ts";
import { retryRun } from "./retry-run.ts";
import { recordSleep, sleepRun } from "./sleep-run.ts";
import { waitRun } from "./wait-run.ts";

/**
 * The run queue's statements on SQLite, prepared once by SqliteStorage.migrate(). (resumePausedRuns and
 * wakeWaitingRuns are prepared by the connection store, whose transactions they run in.)
 */
export const sqliteRunQueueSql = {
  takeConcurrencySlot: takeConcurrencySlot.sqlite,
  insertRun: insertRun.sqlite,
  markEventAccepted: markEventAccepted.sqlite,
  eventInStatus: eventInStatus.sqlite,
  requalifyEvent: requalifyEvent.sqlite,
  requarantineEvent: requarantineEvent.sqlite,

  claimDueRuns: claimDueRuns.sqlite,
  claimSuspectRun: claimSuspectRun.sqlite,
  recordClaims: recordClaims.sqlite,
  eventsOfClaimedRuns: eventsOfClaimedRuns.sqlite,
  journalOfClaimedRuns: journalOfClaimedRuns.sqlite,
  extendLeases: extendLeases.sqlite,

  recordStep: recordStep.sqlite,
  completeRun: completeRun.sqlite,
  retryRun: retryRun.sqlite,
  finishRunWithError: finishRunWithError.sqlite,
  recordStepFailure: recordStepFailure.sqlite,
  sleepRun: sleepRun.sqlite,
  recordSleep: recordSleep.sqlite,
  releaseRun: releaseRun.sqlite,
  interruptRun: interruptRun.sqlite,
  waitRun: waitRun.sqlite,
  connectionStatus: connectionStatus.sqlite,
  pauseRun: pauseRun.sqlite,
  recordHistory: recordHistory.sqlite,

  releaseConcurrencySlot: releaseConcurrencySlot.sqlite,
  forgetIdleConcurrencyKey: forgetIdleConcurrencyKey.sqlite,
  promoteOldestBlocked: promoteOldestBlocked.sqlite,

  recordAllInterruptions: recordAllInterruptions.sqlite,
  requeueAllRunning: requeueAllRunning.sqlite,

  runToReplay: runToReplay.sqlite,
  runOfBulkReplay: runOfBulkReplay.sqlite,
  replayRun: replayRun.sqlite,
  resetFailedSteps: resetFailedSteps.sqlite,
} as const;

export type SqliteRunQueueStatements = SqliteStatements<keyof typeof sqliteRunQueueSql>;
