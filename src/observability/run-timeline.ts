import { idempotencyKeyFor } from "../runtime/idempotency-key.ts";
import type { AuditRecord, ConnectionIncident } from "../storage/connection-store.ts";
import type { EventRecord, RunHistoryEntry, RunRecord, StepRecord, Storage } from "../storage/contract.ts";

/** One attempt of a step: every failed one is in the run's history, the one that succeeded is its journal row. */
export interface StepAttempt {
  attempt: number | null;
  /** Null for attempts stored before per-attempt history was kept. */
  startedAt: number | null;
  finishedAt: number;
  outcome: "succeeded" | "failed";
  /** What the run did after a failure: retry, dead or failed. */
  runAfter: "retry" | "dead" | "failed" | null;
  /** In full. */
  error: string | null;
}

export interface StepTimeline {
  name: string;
  status: "completed" | "failed";
  /** The same on every attempt: what the step sent to providers that deduplicate. */
  idempotencyKey: string;
  attempts: StepAttempt[];
}

/** A moment the run changed state, as its history recorded it. */
export interface StateChange {
  state:
    | "queued"
    | "claimed"
    | "retry scheduled"
    | "waiting"
    | "paused"
    | "resumed"
    | "sleeping"
    | "interrupted"
    | "replayed"
    | "succeeded"
    | "failed"
    | "dead";
  at: number;
  /** The step concerned (a failed attempt, a sleep); null for the run as a whole. */
  stepName: string | null;
  /** The connection a wait, pause or resume is about. */
  connectionId: string | null;
  /** When a retry, wait or sleep makes the run due again. */
  until: number | null;
  /** Why (the error, the reason of a wait or pause), who claimed it, or the status a replay left. */
  detail: string | null;
}

/** Everything `tenon runs show` and `GET /api/runs/:id` tell about one run. */
export interface RunTimeline {
  run: RunRecord;
  event: EventRecord | null;
  steps: StepTimeline[];
  /**
   * What concerns the run as a whole: claims, its failures outside any step, waits, pauses, resumes, sleeps,
   * interruptions, replays and its success.
   */
  happenings: RunHistoryEntry[];
  /** Every state change in order, from its creation (queued, or blocked behind its concurrency key) on. */
  stateChanges: StateChange[];
  /** Its outbound requests, oldest first, as the audit trail keeps them (secrets redacted). */
  exchanges: AuditRecord[];
  /** Incidents of the connections it called, while it was unfinished. */
  incidents: ConnectionIncident[];
}

/** A run with many steps makes a few hundred exchanges; the audit trail keeps at most this many of one run here. */
const exchangeLimit = 5000;
const incidentLimit = 500;

export async function loadRunTimeline(storage: Storage, runId: string, now: number): Promise<RunTimeline | null> {
  const run = await storage.getRun(runId);
  if (!run) return null;
  const [event, steps, stored, exchangesNewestFirst] = await Promise.all([
    storage.getEvent(run.eventId),
    storage.listSteps(runId),
    storage.listRunHistory(runId),
    storage.connections.listAudit({ runId, limit: exchangeLimit }),
  ]);
  const history = withRowMoments(run, stored);
  const exchanges = exchangesNewestFirst.reverse();
  const sleeps = new Set(history.filter((h) => h.kind === "sleep").map((h) => h.stepName));
  return {
    run,
    event,
    steps: steps.filter((step) => !sleeps.has(step.name)).map((step) => toStepTimeline(run.id, step, history)),
    happenings: history.filter((h) => h.stepName === null || h.kind === "sleep"),
    stateChanges: stateChanges(run, history),
    exchanges,
    incidents: await incidentsDuring(storage, run, exchanges, now),
  };
}

const stateOf: Record<RunHistoryEntry["kind"], StateChange["state"]> = {
  claim: "claimed",
  retry: "retry scheduled",
  dead: "dead",
  failed: "failed",
  wait: "waiting",
  pause: "paused",
  resume: "resumed",
  sleep: "sleeping",
  interrupt: "interrupted",
  replay: "replayed",
  succeeded: "succeeded",
};

/**
 * The stored history with the moments the run row keeps (migration 013): its first claim (`started_at`, by
 * `claimed_by`) and its current success (`finished_at`). A database written before 013 holds them as entries
 * already: they are not added twice. In commit order, the row's first claim before anything of its millisecond.
 */
function withRowMoments(run: RunRecord, stored: RunHistoryEntry[]): RunHistoryEntry[] {
  const moment = (kind: "claim" | "succeeded", at: number, detail: string | null): RunHistoryEntry => ({
    kind,
    stepName: null,
    attempt: null,
    connectionId: null,
    startedAt: null,
    at,
    until: null,
    detail,
  });
  const has = (kind: RunHistoryEntry["kind"], at: number) => stored.some((h) => h.kind === kind && h.at === at);
  const history = [...stored];
  const { startedAt, finishedAt } = run;
  if (startedAt !== null && !has("claim", startedAt)) {
    const firstAfter = history.findIndex((h) => h.at >= startedAt);
    history.splice(firstAfter === -1 ? history.length : firstAfter, 0, moment("claim", startedAt, run.claimedBy));
  }
  if (run.status === "succeeded" && finishedAt !== null && !has("succeeded", finishedAt)) {
    history.push(moment("succeeded", finishedAt, null));
  }
  return history;
}

/** The history is in commit order; a stable sort by time keeps it for entries of the same millisecond. */
function stateChanges(run: RunRecord, history: RunHistoryEntry[]): StateChange[] {
  // Creation is the run row itself: a run with a concurrency key may have waited (blocked) for earlier ones.
  const created: StateChange = {
    state: "queued",
    at: run.createdAt,
    stepName: null,
    connectionId: null,
    until: null,
    detail: run.concurrencyKey === null ? null : `created with concurrency key ${run.concurrencyKey}`,
  };
  const changes = history.map(
    (h): StateChange => ({
      state: stateOf[h.kind],
      at: h.at,
      stepName: h.stepName,
      connectionId: h.connectionId,
      until: h.until,
      detail: h.detail,
    }),
  );
  return [created, ...changes.sort((a, b) => a.at - b.at)];
}

function toStepTimeline(runId: string, step: StepRecord, history: RunHistoryEntry[]): StepTimeline {
  const failed = history
    .filter((h) => h.stepName === step.name && (h.kind === "retry" || h.kind === "dead" || h.kind === "failed"))
    .map(
      (h): StepAttempt => ({
        attempt: h.attempt,
        startedAt: h.startedAt,
        finishedAt: h.at,
        outcome: "failed",
        runAfter: h.kind as StepAttempt["runAfter"],
        error: h.detail,
      }),
    );
  const attempts = [...failed];
  if (step.status === "completed") {
    attempts.push({
      attempt: step.failures + 1,
      startedAt: step.startedAt,
      finishedAt: step.updatedAt,
      outcome: "succeeded",
      runAfter: null,
      error: null,
    });
  }
  return { name: step.name, status: step.status, idempotencyKey: idempotencyKeyFor(runId, step.name), attempts };
}

async function incidentsDuring(
  storage: Storage,
  run: RunRecord,
  exchanges: AuditRecord[],
  now: number,
): Promise<ConnectionIncident[]> {
  const connectionIds = [...new Set(exchanges.map((e) => e.connectionId))];
  if (run.waitingOn !== null && !connectionIds.includes(run.waitingOn)) connectionIds.push(run.waitingOn);
  const until = run.finishedAt ?? now;
  const lists = await Promise.all(
    connectionIds.map((connectionId) => storage.connections.listIncidents({ connectionId, limit: incidentLimit })),
  );
  return lists
    .flat()
    .filter((incident) => incident.at >= run.createdAt && incident.at <= until)
    .sort((a, b) => a.at - b.at);
}
