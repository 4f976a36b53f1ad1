/**
 * The storage contract: everything the engine needs from a database, and nothing
 * more. Two backends implement it (`sqlite/`, `postgres/`); nothing above this
 * file knows which one runs. Every run state transition is one named operation
 * here, with its SQL in full in the backend's `transitions` file.
 *
 * Times are epoch milliseconds from the engine's clock; payloads and step
 * outputs are JSON text, serialised by the engine before they get here.
 */

import type { AlertStore } from "./alert-store.ts";
import type { BulkActionStore } from "./bulk-action-store.ts";
import type { AuditRecord, ConnectionStore } from "./connection-store.ts";
import type { DriftStore } from "./drift-store.ts";
import type { OperationalWebhookStore } from "./operational-webhook-store.ts";
import type { OperatorStore } from "./operator-store.ts";
import type { ReadApiStore } from "./read-api-store.ts";
import type { ReconcileStore } from "./reconcile-store.ts";
import type { RetentionStore } from "./retention-store.ts";
import type { SessionStore } from "./session-store.ts";
import type { EntityTag, TagStore } from "./tag-store.ts";

export type RunStatus =
  | "queued" // ready to be claimed at available_at
  | "blocked" // waiting for its concurrency key's earlier runs to finish
  | "running" // claimed by a worker holding a lease
  | "retrying" // failed, rescheduled at available_at
  | "sleeping" // durable timer, resumes at available_at
  | "waiting" // a connection cannot take requests yet (circuit open, rate limited): resumes at available_at, no attempt used
  | "paused" // a connection's credentials were rejected: resumes when they are updated, no attempt used
  | "succeeded"
  | "failed" // NonRetryableError: no retry can help
  | "dead"; // retries exhausted

export const terminalStatuses: readonly RunStatus[] = ["succeeded", "failed", "dead"];

export type EventStatus =
  | "accepted" // runs were created for it
  | "unmatched" // stored, but no integration listens to it
  | "quarantined"; // verified but unusable (unparseable body, bad shape): kept with the reason, no runs

export interface NewRun {
  id: string;
  integrationId: string;
  /** Already prefixed with the integration id, so keys of different integrations never collide. */
  concurrencyKey: string | null;
  concurrencyLimit: number | null;
  /** The entities its integration declared for the event (search by entity), stored with the run. */
  tags?: EntityTag[];
}

export interface NewEvent {
  id: string;
  source: string;
  type: string;
  /** The provider's own id; a second event with the same (source, dedupKey) is a duplicate. */
  dedupKey: string | null;
  payloadJson: string;
  receivedAt: number;
  runs: NewRun[];
  /** Set to quarantine the event: it is stored with this reason and starts no runs. */
  quarantineReason?: string;
  /** sha256 of the request that carried it (Event API): a duplicate reports the original's, to tell a retry from a conflict. */
  fingerprint?: string;
  /** The trace context of the request that carried it (observability/tracing.ts), so its runs continue that trace. */
  traceContext?: string;
}

export type AcceptResult =
  | { duplicate: false; eventId: string; runIds: string[] }
  | { duplicate: true; eventId: string; runIds: string[]; fingerprint: string | null };

export interface JournalEntry {
  name: string;
  status: "completed" | "failed";
  /** JSON text of the step's result; null when the step returned undefined. */
  outputJson: string | null;
  error: string | null;
  /** Failed attempts so far. */
  failures: number;
}

export interface ClaimedRun {
  id: string;
  integrationId: string;
  eventId: string;
  leaseToken: string;
  /** Failed attempts of the run outside any step. */
  failures: number;
  /** Interruptions in a row (crash, kill, stall past the lease) without a step completed in between. */
  crashes: number;
  lastError: string | null;
  /** When the run was created, and when it became claimable (created, unblocked, retry or timer due). */
  createdAt: number;
  availableAt: number;
  /** This claim is the run's first: no worker has started it before (its schedule-to-start is measured). */
  firstClaim: boolean;
  event: {
    id: string;
    source: string;
    type: string;
    payloadJson: string;
    receivedAt: number;
    /** See NewEvent.traceContext; null when the event came in untraced. */
    traceContext: string | null;
  };
  journal: JournalEntry[];
}

export interface ClaimInput {
  leaseToken: string;
  now: number;
  leaseUntil: number;
  /** Runs with this many interruptions in a row (or more) are suspects, claimed only by claimSuspectRun. Default: no limit. */
  maxCrashes?: number;
  /** Who claims (host and process of the worker): kept in each claimed run's history. */
  claimedBy?: string;
}

export interface RenewedLease {
  runId: string;
  leaseToken: string;
}

export interface StepFailure {
  name: string;
  error: string;
}

/**
 * The named state transitions of a claimed run. Each applies only while the caller still holds the lease. The
 * audit records a transition carries (the exchanges of the attempt it ends, src/runtime/held-audit.ts) are written
 * in the same transaction, whether or not the transition applies: the exchanges happened either way.
 */
export type RunTransition = { audit?: AuditRecord[] } & (
  | {
      kind: "recordStep";
      runId: string;
      leaseToken: string;
      name: string;
      outputJson: string | null;
      /** When the attempt that succeeded began; `now` is when it ended. */
      startedAt: number;
      now: number;
    }
  | { kind: "completeRun"; runId: string; leaseToken: string; outputJson: string | null; now: number }
  | {
      kind: "retryRun";
      runId: string;
      leaseToken: string;
      availableAt: number;
      error: string;
      stepFailure: StepFailure | null;
      /** Which attempt failed (of the step, or of the run when it failed outside a step): 1 for the first. */
      attempt: number;
      /** When that attempt began. */
      attemptStartedAt: number;
      now: number;
    }
  | {
      kind: "finishRunWithError";
      runId: string;
      leaseToken: string;
      status: "failed" | "dead";
      error: string;
      stepFailure: StepFailure | null;
      /** Which attempt failed (of the step, or of the run when it failed outside a step): 1 for the first. */
      attempt: number;
      /** When that attempt began. */
      attemptStartedAt: number;
      now: number;
    }
  | { kind: "sleepRun"; runId: string; leaseToken: string; name: string; wakeAt: number; now: number }
  /** Graceful: the worker hands the run back (shutdown); nothing is counted. */
  | { kind: "releaseRun"; runId: string; leaseToken: string; now: number }
  /**
   * The worker fenced itself (its lease may have lapsed): requeued like a crash, and counted as one
   * when the run made no progress since its previous interruption.
   */
  | { kind: "interruptRun"; runId: string; leaseToken: string; reason: string; now: number }
  | {
      kind: "waitRun";
      runId: string;
      leaseToken: string;
      /** The connection it waits on: a circuit that closes early wakes the run early. */
      connectionId: string;
      availableAt: number;
      reason: string;
      now: number;
    }
  | {
      /** Paused until the connection's credentials are updated; queued at once if they already were. */
      kind: "pauseRun";
      runId: string;
      leaseToken: string;
      connectionId: string;
      reason: string;
      now: number;
    }
);

/** false when the lease was lost (expired and taken by another worker, or released): the caller must stop. */
export type TransitionOutcome = boolean;

export interface RunRecord {
  id: string;
  integrationId: string;
  eventId: string;
  status: RunStatus;
  concurrencyKey: string | null;
  availableAt: number;
  /** The connection a waiting or paused run waits on; null otherwise. */
  waitingOn: string | null;
  failures: number;
  /** Interruptions of its worker in a row without progress (see ClaimedRun.crashes). */
  crashes: number;
  lastError: string | null;
  outputJson: string | null;
  createdAt: number;
  /** Its first claim: when, and by which worker (`host pid N`; null if the claimant gave no name). */
  startedAt: number | null;
  claimedBy: string | null;
  finishedAt: number | null;
}

export interface EventRecord {
  id: string;
  source: string;
  type: string;
  dedupKey: string | null;
  payloadJson: string;
  status: EventStatus;
  /** Why it is quarantined; null for other statuses. */
  error: string | null;
  receivedAt: number;
}

export interface EventFilter {
  status?: EventStatus;
  source?: string;
  /** Only events received at or after this time (epoch ms). */
  since?: number;
  /** Only events received before this time (epoch ms). */
  until?: number;
  limit?: number;
}

/** A poll source's durable state: where it is, and how its last attempts went. */
export interface PollState {
  id: string;
  cursor: string | null;
  nextPollAt: number;
  consecutiveFailures: number;
  lastSuccessAt: number | null;
  lastError: string | null;
  lastErrorAt: number | null;
  itemsIngested: number;
  /** The poller holding (or last holding, if `leaseUntil` has passed) its lease. */
  leasedBy: string | null;
  leaseUntil: number | null;
}

export interface PollClaim {
  cursor: string | null;
  /** Failed polls since the last success, across all workers: the backoff grows with it. */
  consecutiveFailures: number;
}

export interface PollLease {
  pollId: string;
  owner: string;
  now: number;
}

export interface StepRecord extends JournalEntry {
  runId: string;
  /** When its last attempt began: for a completed step, the one that succeeded. Null for steps stored before 007. */
  startedAt: number | null;
  /** When its last attempt ended. */
  updatedAt: number;
}

export interface RunFilter {
  status?: RunStatus;
  integrationId?: string;
  eventId?: string;
  /** Only runs created at or after this time (epoch ms). */
  createdSince?: number;
  /** Only runs created before this time (epoch ms). */
  createdBefore?: number;
  limit?: number;
}

/**
 * The runs a bulk replay works through: fixed when it starts, so runs that end in `status` while it works
 * (or after an interrupted replay) are not taken, and a page never has to be read twice.
 */
export interface ReplaySelection {
  status: "dead" | "failed";
  integrationId?: string;
  /**
   * Only runs whose last error contains this text, ignoring case (ASCII letters only on SQLite). Not indexed:
   * every run of the status (and integration) is read to test it, so it narrows a selection, never finds a
   * needle among millions.
   */
  errorContains?: string;
  createdSince?: number;
  createdBefore?: number;
  /** Only runs that had finished by this time: when the replay started. */
  finishedBy: number;
}

/** Where a page of a bulk replay's selection ends: the next page starts after it. */
export interface ReplayCursor {
  finishedAt: number;
  seq: number;
}

export interface ReplayCandidate {
  /** The keyset cursor of the next page. */
  cursor: ReplayCursor;
  id: string;
  integrationId: string;
  createdAt: number;
  lastError: string | null;
}

/** The events a bulk replay of events works through, oldest first. */
export interface EventSelection {
  status: EventStatus;
  source?: string;
  receivedSince?: number;
  receivedBefore?: number;
}

/**
 * What a replay found for a quarantined event under the current config: the runs it starts (none: it is
 * unmatched), with its type and payload as parsed now when its body could not be parsed before; or why it
 * still cannot be processed.
 */
export type Requalification =
  | { runs: NewRun[]; parsed?: { type: string; payloadJson: string } }
  | { quarantineReason: string };

/**
 * One entry of a run's history (see migration 007): what happened to it besides its completed steps. Each is
 * written in the transaction of the transition it tells: a claim but the first (by whom), an attempt that failed (and what
 * became of the run), a wait, pause, sleep or interruption, a resume (credentials updated, circuit closed), a
 * replay. Its creation (queued or blocked) is the run row's own `created_at`, its first claim the row's
 * `started_at` and `claimed_by`, and its success the row's `finished_at` with status `succeeded` (databases
 * written before migration 013 hold those as entries too; a replay moves an earlier success into the history).
 * `loadRunTimeline` puts the row's moments back among the entries.
 */
export interface RunHistoryEntry {
  kind:
    | "claim"
    | "retry"
    | "dead"
    | "failed"
    | "wait"
    | "pause"
    | "resume"
    | "sleep"
    | "interrupt"
    | "replay"
    | "succeeded";
  /** The step, for step failures and sleeps; null for what concerns the run as a whole. */
  stepName: string | null;
  /** Which attempt failed (of the step, or of the run outside any step). */
  attempt: number | null;
  /** The connection a wait or pause is on. */
  connectionId: string | null;
  /** When the failed attempt began. */
  startedAt: number | null;
  at: number;
  /** Until when a wait or sleep holds the run; for a retry, when it is due again. */
  until: number | null;
  /**
   * The full error, or the reason of a wait, pause, resume or interruption; for a replay, the status it left;
   * for a claim, the worker that claimed it.
   */
  detail: string | null;
  /** Who asked for a replay: `api:<token name>` or `cli:<OS user>`; absent when nobody is known (older rows). */
  actor?: string;
}

export interface BackupSummary {
  bytes: number;
  events: number;
  runs: number;
}

export interface Storage {
  readonly dialect: "sqlite" | "postgres";
  /** Credentials, auth status, shared rate limits and circuits, audit trail (see connection-store.ts). */
  readonly connections: ConnectionStore;
  /** Which runs concern which business entity, for search (see tag-store.ts). */
  readonly tags: TagStore;
  /** Deleting old terminal runs and events in small batches (see retention-store.ts). */
  readonly retention: RetentionStore;
  /** Alert state, the evaluation lease, and the facts alert rules read (see alert-store.ts). */
  readonly alerts: AlertStore;
  /** Pages of runs and events, and the figures health is judged on, for the operator's API (see read-api-store.ts). */
  readonly readApi: ReadApiStore;
  /** API tokens made with `tenon tokens create`, and the operator log (see operator-store.ts). */
  readonly operatorAccess: OperatorStore;
  /** Dashboard sessions and one-time sign-in links, stored as digests (see session-store.ts). */
  readonly sessions: SessionStore;
  /** Learned API shapes and the drift incidents found against them (see drift-store.ts). */
  readonly drift: DriftStore;
  /** The operational webhooks' pump (lease, cursors, the sources it reads) and subscriber health (see operational-webhook-store.ts). */
  readonly operationalWebhooks: OperationalWebhookStore;
  /** Reconciliation reports, spilled records and findings (see reconcile-store.ts). */
  readonly reconcile: ReconcileStore;
  /** Bulk replays run as jobs: their selection, progress and lease (see bulk-action-store.ts). */
  readonly bulkActions: BulkActionStore;
  /** Applies pending migrations; safe to call from several workers at once. */
  migrate(): Promise<void>;
  close(): Promise<void>;
  /**
   * Readiness: one cheap query that the database answers and records the newest migration as applied,
   * bounded to a couple of seconds. Throws an Error whose message says what is wrong.
   */
  checkReady(): Promise<void>;
  /**
   * SQLite: writes a consistent copy of the database to `file` while other processes keep writing, then
   * says what it holds; `file` is replaced whole or not at all. PostgreSQL: throws (pg_dump backs it up).
   */
  backupTo(file: string): Promise<BackupSummary>;

  /** Commits each event and its runs in one transaction (group commit); a duplicate creates nothing. */
  acceptEvents(events: NewEvent[]): Promise<AcceptResult[]>;
  /** Adds runs to an already stored event (replay of an event). */
  addRuns(eventId: string, runs: NewRun[], now: number): Promise<void>;

  /** Leases up to `limit` due runs below the crash limit to `leaseToken` until `leaseUntil`, oldest first. */
  claimDueRuns(input: ClaimInput & { limit: number }): Promise<ClaimedRun[]>;
  /**
   * Leases the oldest due suspect: a run with at least `maxCrashes` interruptions in a row. The worker runs
   * it alone, so that if its process dies again the cause is certain.
   */
  claimSuspectRun(input: ClaimInput & { maxCrashes: number }): Promise<ClaimedRun | null>;
  /** Whether a suspect (see claimSuspectRun) is due. */
  hasDueSuspect(now: number, maxCrashes: number): Promise<boolean>;
  /** Applies transitions in one transaction; outcome per transition, in order. */
  applyTransitions(transitions: RunTransition[]): Promise<TransitionOutcome[]>;
  /**
   * Heartbeat: pushes the lease of every run still held under one of `leaseTokens`, and returns the
   * runs it pushed, with the token they are held under. A run missing from the answer was not renewed (lost, finished, or
   * busy in a transition at that instant): its holder must go by the lease it last had confirmed.
   * Never waits for a row lock (no deadlock with transitions).
   */
  extendLeases(leaseTokens: string[], leaseUntil: number): Promise<RenewedLease[]>;
  /**
   * Makes runs whose lease ran out claimable again (crash recovery); returns how many. Each counts as an
   * interruption: `crashes` grows by one unless the run completed a step since its previous interruption.
   */
  expireLeases(now: number): Promise<number>;
  /**
   * Called once by a process that is about to run a worker. SQLite: takes exclusive ownership of the file
   * (throws if another live process runs a worker on it) and requeues the runs the previous owner left
   * running, as interruptions. PostgreSQL: nothing (leases expire). Returns how many runs were requeued.
   */
  beginWorkerSession(now: number): Promise<number>;
  /** The worker of this process stopped: SQLite gives up ownership of the file (another process may take it). */
  endWorkerSession(): Promise<void>;
  /** When the next queued/retrying/sleeping/waiting run becomes due, or null if none. */
  nextDueAt(): Promise<number | null>;

  /**
   * Puts a finished or stuck run back in the queue; its journal is kept, so it resumes at the first incomplete step.
   * `actor` (who asked) is kept in the run's history, as for replayRunsIn.
   */
  replayRun(runId: string, now: number, actor?: string): Promise<RunRecord>;
  /** How many runs a bulk replay selects. */
  countRunsToReplay(selection: ReplaySelection): Promise<number>;
  /** The next page of a bulk replay's selection, after the cursor (none for the first), first finished first. */
  listRunsToReplay(
    selection: ReplaySelection,
    after: ReplayCursor | undefined,
    limit: number,
  ): Promise<ReplayCandidate[]>;
  /**
   * Replays those of `runIds` still in the selection's status and finished by its `finishedBy`, in one
   * transaction, as replayRun does; returns the ids replayed. A run that left it (replayed already, by this or
   * another replay, even if it died again since) is skipped, so repeating a call, or an interrupted bulk
   * replay, never replays a run twice.
   */
  replayRunsIn(
    selection: Pick<ReplaySelection, "status" | "finishedBy">,
    runIds: string[],
    now: number,
    actor?: string,
  ): Promise<string[]>;
  /** How many events a bulk replay of events selects. */
  countEventsToReplay(selection: EventSelection): Promise<number>;
  /** The next page of events, oldest first, after the event `after` (null for the first page). */
  listEventsToReplay(
    selection: EventSelection,
    after: { receivedAt: number; id: string } | null,
    limit: number,
  ): Promise<EventRecord[]>;
  /**
   * A quarantined or unmatched event judged again under the current config: with runs, it becomes accepted and
   * they start; with none, unmatched; otherwise it is quarantined with the new reason. Only while it is still
   * in the status `from` it was read in: false when it was not (replayed already), and nothing is written.
   */
  requalifyEvent(
    eventId: string,
    outcome: Requalification,
    now: number,
    from: Exclude<EventStatus, "accepted">,
  ): Promise<boolean>;

  /**
   * Fires a schedule tick at most once across all workers: returns false if this
   * tick (or a later one) was already fired; otherwise records it and accepts the event, atomically.
   */
  fireScheduleTick(scheduleId: string, tickAt: number, event: NewEvent): Promise<boolean>;
  getScheduleLastTick(scheduleId: string): Promise<number | null>;

  /**
   * Leases a poll source to `owner` until `leaseUntil` if it is due and nobody else holds it; creates its
   * row on first use. Returns its cursor and failure streak, or null when not claimed. One poller per source
   * across workers.
   */
  claimPoll(input: PollLease & { leaseUntil: number }): Promise<PollClaim | null>;
  /**
   * Stores the events made from one fetched page and moves the cursor, in one transaction, only while
   * `owner` still holds the lease (null when it was lost: nothing is written). `keepLease` holds on for
   * the next page, with the lease pushed to `leaseUntil`; otherwise the lease is released.
   */
  commitPoll(
    input: PollLease & {
      cursor: string | null;
      events: NewEvent[];
      nextPollAt: number;
      keepLease: boolean;
      leaseUntil: number;
    },
  ): Promise<AcceptResult[] | null>;
  /** Records a failed poll and releases the lease; the cursor stays where it was. */
  failPoll(input: PollLease & { error: string; nextPollAt: number }): Promise<void>;
  /** Moves a poll source's cursor (backfill) and makes it due now; a poll in flight loses its lease. */
  resetPollCursor(pollId: string, cursor: string | null, now: number): Promise<void>;
  getPollState(pollId: string): Promise<PollState | null>;

  getRun(runId: string): Promise<RunRecord | null>;
  getEvent(eventId: string): Promise<EventRecord | null>;
  listRuns(filter?: RunFilter): Promise<RunRecord[]>;
  listEvents(filter?: EventFilter): Promise<EventRecord[]>;
  countEventsByStatus(): Promise<Partial<Record<EventStatus, number>>>;
  listSteps(runId: string): Promise<StepRecord[]>;
  /** A run's history besides its completed steps, oldest first. */
  listRunHistory(runId: string): Promise<RunHistoryEntry[]>;
  /** All runs, or those of one integration. */
  countRunsByStatus(filter?: { integrationId?: string }): Promise<Partial<Record<RunStatus, number>>>;

  /** Called when runs may have become claimable elsewhere (PostgreSQL LISTEN/NOTIFY). Returns an unsubscribe. */
  onRunsAvailable(listener: () => void): () => void;
}
