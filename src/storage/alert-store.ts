/**
 * What alerting keeps and reads (src/alerting/): the state of each alert, the lease under which one worker at a
 * time evaluates the rules, and the facts the rules are evaluated on, each one indexed query.
 */
export type AlertStatus = "firing" | "resolved";

export interface AlertRecord {
  /** Rule + subject: the same condition on the same thing is the same alert. */
  fingerprint: string;
  rule: string;
  /** What it is about: an integration, a connection, a webhook source, an alert channel. */
  subject: string;
  severity: "critical" | "warning" | "info";
  /** One line a person can act on, as of the latest evaluation. */
  summary: string;
  labels: Record<string, string>;
  status: AlertStatus;
  /** How many times it has started firing; a notification is identified by (fingerprint, episode, number). */
  episode: number;
  /** How many things it counts (dead runs in the window, runs waiting…), as of the latest evaluation. */
  count: number;
  firstSeenAt: number;
  lastSeenAt: number;
  /** Since when the condition has been clear while still firing (the recovery threshold runs from here). */
  clearedSince: number | null;
  resolvedAt: number | null;
  /** Notifications sent in this episode (firing, re-notifications, resolved). */
  notifications: number;
  notifiedAt: number | null;
  ackedAt: number | null;
  ackedBy: string | null;
  snoozedUntil: number | null;
}

/** Runs that ended in a window, by integration and status. */
export interface EndedRunCount {
  integrationId: string;
  status: "succeeded" | "failed" | "dead";
  count: number;
  lastFinishedAt: number;
}

/** Runs held in a status (waiting on a connection, paused) since before a time, by integration and connection. */
export interface HeldRunCount {
  integrationId: string;
  connectionId: string | null;
  count: number;
  /** When the longest-held of them was last changed (it has been held since). */
  heldSince: number;
}

/** A notification's delivery to one channel: the event that carries it, and the run that sends it (if any). */
export interface NotificationDelivery {
  eventId: string;
  /** The event's type: which channel's integration it starts. */
  type: string;
  /** The notification, as the event's JSON payload. */
  payload: string;
  receivedAt: number;
  /** The delivery run (the newest, if the event was replayed); null when no integration took the event. */
  run: {
    id: string;
    status: string;
    /** Failed attempts, of its step and of the run outside it. */
    failedAttempts: number;
    /** The last failed attempt's error (with its stack), until an attempt succeeds. */
    lastError: string | null;
    availableAt: number;
    finishedAt: number | null;
  } | null;
}

export interface AlertStore {
  /** Takes (or renews) the evaluation lease: true if `owner` holds it until `until`. */
  claimEvaluation(owner: string, now: number, until: number): Promise<boolean>;
  releaseEvaluation(owner: string): Promise<void>;

  listAlerts(filter?: { status?: AlertStatus; limit?: number }): Promise<AlertRecord[]>;
  getAlert(fingerprint: string): Promise<AlertRecord | null>;
  /**
   * Writes the evaluator's view of an alert. Acknowledgement and snooze are the operators': kept as they are,
   * except when a new episode starts (`newEpisode`), which clears them.
   */
  saveAlert(alert: AlertRecord, options: { newEpisode: boolean }): Promise<void>;
  /** Silences a firing alert until it resolves; null if there is no firing alert with that fingerprint. */
  ackAlert(fingerprint: string, by: string, now: number): Promise<AlertRecord | null>;
  /**
   * No notification before `until` (a resolved message is still sent); null if it is not firing. Who snoozed
   * it is in the operator log.
   */
  snoozeAlert(fingerprint: string, until: number): Promise<AlertRecord | null>;

  /** The newest `limit` notification deliveries: the events of `source` (alerting's), newest first, with their runs. */
  listNotificationDeliveries(source: string, limit: number): Promise<NotificationDelivery[]>;

  /** Terminal runs that finished at or after `since` (runs_finished). */
  countEndedRuns(since: number): Promise<EndedRunCount[]>;
  /** The statuses of an integration's last `limit` finished runs, newest first. */
  lastEndedStatuses(integrationId: string, limit: number): Promise<string[]>;
  /** Runs in `status` unchanged since before `before`. */
  countHeldRuns(status: "waiting" | "paused", before: number): Promise<HeldRunCount[]>;
  /** Quarantined events received at or after `since`, by source. */
  countQuarantinedEvents(since: number): Promise<{ source: string; count: number; lastReceivedAt: number }[]>;
  /**
   * Runs of an integration that are failing right now: retrying after a failure (or being tried again), or dead
   * since `since`.
   */
  countFailingRuns(integrationId: string, since: number): Promise<{ retrying: number; dead: number }>;
}
