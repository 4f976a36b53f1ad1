import type { Logger } from "pino";
import { toEntityTag } from "../observability/entity-tags.ts";
import type { RunObserver } from "../observability/run-metrics.ts";
import {
  type ActiveSpan,
  endSpan,
  markFailed,
  type Span,
  startRunSpan,
  startStepSpan,
  withSpan,
} from "../observability/tracing.ts";
import type { Clock } from "../runtime/clock.ts";
import { HeldAudit } from "../runtime/held-audit.ts";
import { idempotencyKeyFor } from "../runtime/idempotency-key.ts";
import { type LeaseFence, LeaseLostError } from "../runtime/lease-fence.ts";
import { runInRun } from "../runtime/run-scope.ts";
import { runInStep } from "../runtime/step-scope.ts";
import type {
  EntityValue,
  Integration,
  RunContext,
  StepContext,
  StepOptions,
  StepTools,
  TriggerEvent,
} from "../sdk/define-integration.ts";
import { type Duration, durationToMs } from "../sdk/duration.ts";
import {
  type AuthError,
  type CircuitOpenError,
  type MissingCredentialError,
  NonRetryableError,
  type RateLimitedError,
  type RetryableError,
  toError,
} from "../sdk/errors.ts";
import { backoffDelayMs, type ResolvedRetryPolicy, resolveRetryPolicy } from "../sdk/retry-policy.ts";
import type { ClaimedRun, JournalEntry, RunTransition } from "../storage/contract.ts";
import type { EntityTag, NewTag } from "../storage/tag-store.ts";
import { fromJournalJson, stepResultToJson, toJournalJson } from "./journal-value.ts";

export interface ExecutionDeps {
  clock: Clock;
  random: () => number;
  logger: Logger;
  /** Commits a transition (group-committed); false means the lease was lost. */
  transition: (t: RunTransition) => Promise<boolean>;
  /** The configured connections' clients, by name. */
  connection: RunContext<unknown>["connection"];
  /** Stores a tag the run added (step.tag), group-committed; a tag the run already holds is kept as it is. */
  tag: (tag: NewTag) => Promise<void>;
  /** Interruptions in a row after which a run is a suspect and runs alone (see Worker). */
  maxCrashes: number;
  /** Measures the execution when metrics are on (schedule-to-start, attempts cut short by a wait). */
  runObserver: RunObserver | undefined;
}

/** A step's function threw: carries what the run needs to decide retry, dead or failed. */
class StepFailedError extends Error {
  constructor(
    readonly stepName: string,
    readonly failedAttempts: number,
    /** When the failed attempt of the step began. */
    readonly startedAt: number,
    readonly policy: ResolvedRetryPolicy | undefined,
    override readonly cause: Error,
  ) {
    super(`step "${stepName}" failed (attempt ${failedAttempts}): ${cause.message}`, { cause });
  }
}

/** Settles when the run suspended itself on a durable timer. */
interface Suspension {
  promise: Promise<"suspended">;
  suspend: () => void;
}

const maxErrorLength = 8192;

/**
 * Executes one claimed run from the top. Completed steps come from the journal
 * instead of running again, so the run resumes at its first incomplete step.
 * The execution is a `tenon.run` span, continuing the trace of the request that brought the event in.
 */
export async function executeRun(
  run: ClaimedRun,
  integration: Integration,
  fence: LeaseFence,
  deps: ExecutionDeps,
): Promise<void> {
  const runSpan = startRunSpan(run);
  // The exchanges' audit records ride with the run's next transition, written in its transaction (held-audit.ts).
  const audit = new HeldAudit();
  const transition = (t: RunTransition) => {
    const records = audit.take();
    return deps.transition(records ? Object.assign({}, t, { audit: records }) : t);
  };
  try {
    await withSpan(runSpan, () =>
      runInRun(
        {
          runId: run.id,
          integrationId: run.integrationId,
          event: { source: run.event.source, type: run.event.type },
          audit,
        },
        () => executeClaimedRun(run, integration, fence, { ...deps, transition }, runSpan),
      ),
    );
  } finally {
    audit.close();
    runSpan.span.end();
  }
}

async function executeClaimedRun(
  run: ClaimedRun,
  integration: Integration,
  fence: LeaseFence,
  deps: ExecutionDeps,
  runSpan: ActiveSpan,
): Promise<void> {
  const policy = resolveRetryPolicy(integration.retries);
  // Only the rare warnings below need it: pino serialises a child's bindings when it is made.
  const log = () => deps.logger.child({ runId: run.id, integrationId: run.integrationId });
  const attemptStartedAt = deps.clock.now();
  if (run.crashes >= 2 * deps.maxCrashes) {
    // A suspect whose process died again and again while it ran alone: the run itself is the cause. One death
    // alone is not proof enough: a deploy or an operator's kill can land while a suspect runs.
    const error = poisonReason(run, deps.maxCrashes);
    await finish(run, deps, { kind: "dead", error, stepFailure: null, attempt: run.failures + 1, attemptStartedAt });
    return;
  }
  let resolveSuspension: () => void = () => {};
  const suspension: Suspension = {
    promise: new Promise((resolve) => {
      resolveSuspension = () => resolve("suspended");
    }),
    suspend: () => resolveSuspension(),
  };
  const step = createStepTools(run, policy, fence, deps, suspension, runSpan);
  const event: TriggerEvent<unknown> = {
    id: run.event.id,
    source: run.event.source,
    type: run.event.type,
    payload: JSON.parse(run.event.payloadJson),
    receivedAt: new Date(run.event.receivedAt),
  };
  try {
    const running = integration.run({
      event,
      step,
      run: { id: run.id, integrationId: run.integrationId },
      connection: deps.connection,
    });
    const outcome = await Promise.race([running, suspension.promise]);
    if (outcome === "suspended") return;
    let outputJson: string | null;
    try {
      outputJson = toJournalJson(outcome);
    } catch (error) {
      throw new NonRetryableError(`the run returned a value that cannot be stored (${(error as Error).message})`);
    }
    if (
      !(await deps.transition({
        kind: "completeRun",
        runId: run.id,
        leaseToken: run.leaseToken,
        outputJson,
        now: deps.clock.now(),
      }))
    ) {
      log().warn("run finished after its lease was lost; another attempt owns it");
    }
  } catch (thrown) {
    // Whatever was thrown, a worker whose lease may have lapsed records no outcome of its own.
    if (!fence.held) {
      await handOverFenced(run, fence, deps, log());
      return;
    }
    if (thrown instanceof LeaseLostError) {
      log().warn("run stopped: its lease was lost (expired or released); another attempt owns it");
      return;
    }
    await handleFailure(run, policy, deps, thrown, attemptStartedAt, runSpan.span);
  }
}

/**
 * The worker fenced itself: it stops acting for the run at once and logs it. If the lease is in fact still
 * its own (nobody took the run over), it hands the run back as an interruption so that it resumes now,
 * from its journal, rather than when the lease expires; otherwise that transition simply finds it gone.
 */
async function handOverFenced(run: ClaimedRun, fence: LeaseFence, deps: ExecutionDeps, log: Logger): Promise<void> {
  const now = deps.clock.now();
  log.warn(
    { lapsedMsAgo: now - fence.heldUntil },
    "worker fenced itself: its lease on the run may have lapsed (heartbeats failed or the process stalled), so it stopped acting for the run; the run resumes from its journal",
  );
  await deps.transition({
    kind: "interruptRun",
    runId: run.id,
    leaseToken: run.leaseToken,
    reason:
      "the worker running this attempt fenced itself (its lease may have lapsed: heartbeats failed or the process stalled); the run was requeued",
    now,
  });
}

function poisonReason(run: ClaimedRun, maxCrashes: number): string {
  return (
    `poison run: its worker stopped (crash, kill, out of memory, or a stall past its lease) while it was in flight ` +
    `${run.crashes} times in a row without it completing a step, the last ${run.crashes - maxCrashes} while it ran alone ` +
    `(worker.maxCrashes = ${maxCrashes}), so it ends dead instead of taking workers down again; find the cause, ` +
    `fix it and replay the run. Last interruption: ${run.lastError ?? "unknown"}`
  );
}

async function handleFailure(
  run: ClaimedRun,
  runPolicy: ResolvedRetryPolicy,
  deps: ExecutionDeps,
  thrown: unknown,
  runAttemptStartedAt: number,
  runSpan: Span,
) {
  const stepFailed = thrown instanceof StepFailedError ? thrown : undefined;
  const cause = stepFailed ? stepFailed.cause : toError(thrown);
  const policy = stepFailed?.policy ?? runPolicy;
  const failedAttempts = stepFailed ? stepFailed.failedAttempts : run.failures + 1;
  const where = stepFailed ? `step "${stepFailed.stepName}"` : "run";
  const error = truncate(`${where}: ${cause.stack ?? `${cause.name}: ${cause.message}`}`);
  const stepFailure = stepFailed ? { name: stepFailed.stepName, error } : null;
  const attempt = { attempt: failedAttempts, attemptStartedAt: stepFailed?.startedAt ?? runAttemptStartedAt };
  if (await holdForConnection(run, deps, cause, where)) return;
  markFailed(runSpan, cause);
  deps.logger.warn({ runId: run.id, attempt: failedAttempts, err: cause.message }, `${where} failed`);

  if (isNonRetryable(cause)) {
    await finish(run, deps, { kind: "failed", error, stepFailure, ...attempt });
  } else if (failedAttempts >= policy.maxAttempts) {
    await finish(run, deps, {
      kind: "dead",
      error: `retries exhausted after ${failedAttempts} attempts; last error: ${error}`,
      stepFailure,
      ...attempt,
    });
  } else {
    const retryAfterMs = (cause as Partial<RetryableError>).retryAfterMs;
    const delay =
      cause.name === "RetryableError" && typeof retryAfterMs === "number"
        ? retryAfterMs
        : backoffDelayMs(policy, failedAttempts, deps.random);
    const now = deps.clock.now();
    await deps.transition({
      kind: "retryRun",
      runId: run.id,
      leaseToken: run.leaseToken,
      availableAt: now + delay,
      error,
      stepFailure,
      ...attempt,
      now,
    });
  }
}

/**
 * A connection that cannot take requests yet (circuit open, rate limited, a credential's variable unset
 * in this process) or whose credentials were rejected is not the run's fault: the run waits or pauses and no attempt is used. Recognised by name,
 * like NonRetryableError, so a second copy of the SDK behaves the same.
 */
async function holdForConnection(run: ClaimedRun, deps: ExecutionDeps, cause: Error, where: string): Promise<boolean> {
  const now = deps.clock.now();
  const reason = truncate(`${where}: ${cause.message}`);
  const base = { runId: run.id, leaseToken: run.leaseToken, reason, now };
  switch (cause.name) {
    case "AuthError": {
      const { connectionId } = cause as AuthError;
      deps.logger.warn({ runId: run.id, connectionId }, "run paused: the connection's credentials were rejected");
      await deps.transition({ kind: "pauseRun", connectionId, ...base });
      return true;
    }
    case "RateLimitedError":
    case "MissingCredentialError":
    case "CircuitOpenError": {
      const { connectionId } = cause as RateLimitedError | MissingCredentialError | CircuitOpenError;
      const until =
        cause.name === "CircuitOpenError"
          ? (cause as CircuitOpenError).reopenAt
          : (cause as RateLimitedError | MissingCredentialError).retryAt;
      await deps.transition({ kind: "waitRun", connectionId, availableAt: Math.max(until, now), ...base });
      return true;
    }
    default:
      return false;
  }
}

async function finish(
  run: ClaimedRun,
  deps: ExecutionDeps,
  outcome: {
    kind: "failed" | "dead";
    error: string;
    stepFailure: { name: string; error: string } | null;
    attempt: number;
    attemptStartedAt: number;
  },
) {
  await deps.transition({
    kind: "finishRunWithError",
    runId: run.id,
    leaseToken: run.leaseToken,
    status: outcome.kind,
    error: truncate(outcome.error),
    stepFailure: outcome.stepFailure,
    attempt: outcome.attempt,
    attemptStartedAt: outcome.attemptStartedAt,
    now: deps.clock.now(),
  });
}

/** By name as well as class: a second copy of the SDK in node_modules must not turn "failed" into retries. */
function isNonRetryable(error: Error): boolean {
  return error instanceof NonRetryableError || error.name === "NonRetryableError";
}

function truncate(text: string): string {
  return text.length <= maxErrorLength ? text : `${text.slice(0, maxErrorLength)}… (truncated)`;
}

function createStepTools(
  run: ClaimedRun,
  policy: ResolvedRetryPolicy,
  fence: LeaseFence,
  deps: ExecutionDeps,
  suspension: Suspension,
  runSpan: ActiveSpan,
): StepTools {
  // What earlier executions journaled. Read only: journalName gives each call of this execution a name of its own,
  // so a step journaled now is never looked up again in it.
  const journal = new Map<string, JournalEntry>(run.journal.map((entry) => [entry.name, entry]));
  const calls = new Map<string, number>();

  /** The second call of a name in one run is "name#2", the third "name#3": loops journal each iteration. */
  function journalName(kind: string, name: unknown): string {
    if (typeof name !== "string" || name.length === 0 || name.length > 200) {
      throw new NonRetryableError(
        `${kind} needs a name: a non-empty string of at most 200 characters, got ${JSON.stringify(name)}`,
      );
    }
    const count = (calls.get(name) ?? 0) + 1;
    calls.set(name, count);
    return count === 1 ? name : `${name}#${count}`;
  }

  async function runStep<T>(name: string, fn: (ctx: StepContext) => T | Promise<T>, options?: StepOptions) {
    const key = journalName("step.run", name);
    const entry = journal.get(key);
    if (entry?.status === "completed") return fromJournalJson(entry.outputJson);
    const attempt = (entry?.failures ?? 0) + 1;
    let value: T;
    const idempotencyKey = idempotencyKeyFor(run.id, key);
    fence.assertHeld(() => `step "${key}"`);
    const startedAt = deps.clock.now();
    deps.runObserver?.stepStarting(run, key, startedAt);
    const stepSpan = startStepSpan(runSpan, {
      runId: run.id,
      integrationId: run.integrationId,
      name: key,
      attempt,
    });
    try {
      value = await withSpan(stepSpan, () =>
        runInStep({ runId: run.id, stepName: key, idempotencyKey, attempt, fence }, () =>
          fn({ idempotencyKey, attempt }),
        ),
      );
    } catch (error) {
      endSpan(stepSpan.span, error);
      // An aborted request, or the step's own reaction to it, is not a failure of the step.
      if (!fence.held) throw new LeaseLostError(`step "${key}" was stopped: the worker's lease on the run lapsed`);
      const stepPolicy = options?.retries ? resolveRetryPolicy(options.retries, policy) : undefined;
      throw new StepFailedError(key, attempt, startedAt, stepPolicy, toError(error));
    }
    endSpan(stepSpan.span);
    const outputJson = stepResultToJson(key, value);
    const now = deps.clock.now();
    if (
      !(await deps.transition({
        kind: "recordStep",
        runId: run.id,
        leaseToken: run.leaseToken,
        name: key,
        outputJson,
        startedAt,
        now,
      }))
    ) {
      throw new LeaseLostError();
    }
    return fromJournalJson(outputJson);
  }

  async function sleepUntil(name: string, until: number): Promise<void> {
    const key = journalName("step.sleep", name);
    const entry = journal.get(key);
    const wakeAt = entry ? (fromJournalJson(entry.outputJson) as { sleepUntil: number }).sleepUntil : until;
    const now = deps.clock.now();
    if (wakeAt <= now && entry) return;
    if (
      !(await deps.transition({ kind: "sleepRun", runId: run.id, leaseToken: run.leaseToken, name: key, wakeAt, now }))
    ) {
      throw new LeaseLostError();
    }
    // Even a timer already due releases the run; it is claimable again at once.
    suspension.suspend();
    // Never settles: the run resumes from the journal when a worker claims it after wakeAt.
    await new Promise<never>(() => {});
  }

  /** Tags this execution stored: calling step.tag again in it costs nothing. Made by the first tag. */
  let tagged: Set<string> | undefined;

  async function tag(kind: string, value: EntityValue): Promise<void> {
    let entity: EntityTag | null;
    try {
      entity = toEntityTag(kind, value);
    } catch (error) {
      throw new NonRetryableError(`step.tag: ${(error as Error).message}`);
    }
    if (!entity) return;
    const key = `${entity.kind}\u0000${entity.value}`;
    if (tagged?.has(key)) return;
    await deps.tag({ ...entity, runId: run.id, eventId: run.eventId, createdAt: deps.clock.now() });
    tagged ??= new Set();
    tagged.add(key);
  }

  return {
    run: runStep as StepTools["run"],
    tag,
    sleep: (name: string, duration: Duration) => sleepUntil(name, deps.clock.now() + durationToMs(duration)),
    sleepUntil: (name: string, until: Date | number) =>
      sleepUntil(name, until instanceof Date ? until.getTime() : until),
  };
}
