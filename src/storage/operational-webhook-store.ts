/**
 * What operational webhooks keep and read (src/operational-webhooks/): the lease under which one worker at a
 * time pumps occurrences, the pump's cursor in each source it reads, the sources themselves (ended runs,
 * connection incidents, drift incidents, each read oldest first from an index), and each subscriber's
 * delivery health (failures in a row, last success, disabled). One implementation serves both backends
 * (`operational-webhook-queries.ts`).
 */
import type { ConnectionIncident } from "./connection-store.ts";
import type { DriftIncident } from "./drift-store.ts";

/** The sources the pump reads, each with a cursor of its own. */
export type OccurrenceSource = "runs" | "connection_incidents" | "drift_incidents";

/**
 * Where an item sorts in its source, and so where a cursor stands: ended runs by `(finished_at, seq)`
 * (`id` is ""), incidents by `(at, id)` (`seq` is 0).
 */
export interface SourcePosition {
  at: number;
  seq: number;
  id: string;
}

export interface SourceCursor {
  position: SourcePosition;
  /** Moves on with each move: a move from an older version (another pump moved it since) does nothing. */
  version: number;
}

/** A run that ended dead or failed, as the pump reads it. */
export interface EndedRun {
  position: SourcePosition;
  id: string;
  integrationId: string;
  eventId: string;
  status: "dead" | "failed";
  lastError: string | null;
  createdAt: number;
  finishedAt: number;
}

/** One subscriber's delivery health. A subscriber with no row yet has had no outcome: healthy, enabled. */
export interface SubscriberHealth {
  name: string;
  /** Deliveries that ended dead since the last success (or the last enable). */
  consecutiveFailures: number;
  /** When the first of those was first tried; null while healthy. */
  failingSince: number | null;
  lastFailedAt: number | null;
  lastSuccessAt: number | null;
  disabledAt: number | null;
  disabledReason: string | null;
  /** When an operator last enabled it. */
  enabledAt: number | null;
  /** Occurrences not delivered to it because it was disabled. */
  skipped: number;
}

/** A delivery that ended dead: when its run was created (first tried), and where it sorts among ended runs. */
export interface FailedDelivery {
  createdAt: number;
  finishedAt: number;
  seq: number;
}

export interface OperationalWebhookStore {
  /** Takes (or renews) the pump's lease: true if `owner` holds it until `until`. */
  claimPump(owner: string, now: number, until: number): Promise<boolean>;
  releasePump(owner: string): Promise<void>;

  /** The cursor of a source; null before the pump first read it. */
  getCursor(source: OccurrenceSource): Promise<SourceCursor | null>;
  /** Starts a source's cursor at `position` unless it has one already. */
  startCursor(source: OccurrenceSource, position: SourcePosition, now: number): Promise<void>;
  /** Moves the cursor to `position` if it is still at `version`; false if another pump moved it since. */
  moveCursor(source: OccurrenceSource, version: number, position: SourcePosition, now: number): Promise<boolean>;

  /** Runs that ended dead or failed after `after` and at or before `upTo`, oldest first (runs_finished). */
  listEndedRuns(after: SourcePosition, upTo: number, limit: number): Promise<EndedRun[]>;
  /** Connection incidents of these kinds after `after` and at or before `upTo`, oldest first. */
  listConnectionIncidents(
    after: SourcePosition,
    upTo: number,
    kinds: readonly ConnectionIncident["kind"][],
    limit: number,
  ): Promise<(ConnectionIncident & { position: SourcePosition })[]>;
  /** Drift incidents detected after `after` and at or before `upTo`, oldest first. */
  listDriftIncidents(
    after: SourcePosition,
    upTo: number,
    limit: number,
  ): Promise<(DriftIncident & { position: SourcePosition })[]>;

  /** Every subscriber that has a row. */
  listSubscriberHealth(): Promise<SubscriberHealth[]>;
  getSubscriberHealth(name: string): Promise<SubscriberHealth | null>;
  /**
   * Counts a delivery that ended dead, once: a failure that sorts at or before the last one counted (the pump
   * read it again after a crash), or that ended before the last success or enable, changes nothing.
   */
  recordDeliveryFailure(name: string, failure: FailedDelivery): Promise<void>;
  /** A delivery succeeded at `at`: failures counted before it are forgotten. */
  recordDeliverySuccess(name: string, at: number): Promise<void>;
  /**
   * Disables the subscriber if it is still failing since `failingSince` (no success or enable came in
   * between) and not disabled already; true if this call disabled it.
   */
  disableSubscriber(name: string, failingSince: number, at: number, reason: string): Promise<boolean>;
  /** Enables it and forgets its failures (a fresh start); the health as it is now. */
  enableSubscriber(name: string, at: number): Promise<SubscriberHealth>;
  /** Counts occurrences not delivered to a disabled subscriber. */
  addSkipped(name: string, count: number): Promise<void>;
}
