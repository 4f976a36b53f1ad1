/** The shapes of the REST API's answers the dashboard reads (see docs/read-api.md and src/server/*-routes.ts). */

export type Role = "viewer" | "operator" | "admin";

export interface Session {
  name: string;
  role: Role;
  csrfToken: string;
  expiresAt: string;
}

export type RunStatus =
  | "queued"
  | "blocked"
  | "running"
  | "retrying"
  | "sleeping"
  | "waiting"
  | "paused"
  | "succeeded"
  | "failed"
  | "dead";

export const runStatuses: RunStatus[] = [
  "queued",
  "blocked",
  "running",
  "retrying",
  "sleeping",
  "waiting",
  "paused",
  "succeeded",
  "failed",
  "dead",
];

export const endedStatuses: RunStatus[] = ["succeeded", "failed", "dead"];

export interface Run {
  id: string;
  integrationId: string;
  eventId: string;
  status: RunStatus;
  waitingOn: string | null;
  failures: number;
  lastError: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  availableAt: string | null;
}

export interface RunPage {
  runs: Run[];
  nextCursor: string | null;
}

export type EventStatus = "accepted" | "unmatched" | "quarantined";

export interface EventSummary {
  id: string;
  source: string;
  type: string;
  providerId: string | null;
  status: EventStatus;
  reason: string | null;
  receivedAt: string;
}

export interface EventPage {
  events: EventSummary[];
  nextCursor: string | null;
}

export interface EventDetail {
  event: EventSummary & { payload: unknown };
  runs: Run[];
}

export interface StepAttempt {
  attempt: number | null;
  startedAt: string | null;
  finishedAt: string;
  durationMs: number | null;
  outcome: "succeeded" | "failed";
  runAfter: "retry" | "dead" | "failed" | null;
  error: string | null;
}

export interface StepTimeline {
  name: string;
  status: "completed" | "failed";
  idempotencyKey: string;
  attempts: StepAttempt[];
}

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
  at: string;
  stepName: string | null;
  connectionId: string | null;
  until: string | null;
  detail: string | null;
}

/** An outbound request as the audit trail stored it: secrets redacted, bodies truncated. */
export interface Exchange {
  id: string;
  connectionId: string;
  runId: string | null;
  stepName: string | null;
  method: string;
  url: string;
  status: number | null;
  error: string | null;
  durationMs: number;
  /** The run timeline carries headers as the stored JSON text; search and the audit route as objects. */
  requestHeaders: string | Record<string, string>;
  requestBody: string | null;
  responseHeaders: string | Record<string, string> | null;
  responseBody: string | null;
  at: string | number;
}

export interface ConnectionIncident {
  id: string;
  connectionId: string;
  kind: "auth_failed" | "auth_restored" | "circuit_opened" | "circuit_closed" | "rate_limited";
  detail: string;
  at: string | number;
}

export interface RunDetail {
  run: Run & { concurrencyKey: string | null; crashes: number; output: unknown };
  event: { id: string; source: string; type: string; providerId: string | null; receivedAt: string } | null;
  steps: StepTimeline[];
  stateChanges: StateChange[];
  exchanges: Exchange[];
  incidents: ConnectionIncident[];
}

export type HealthStatus = "green" | "amber" | "red";

export interface Verdict {
  status: HealthStatus;
  reason: string;
}

export interface IntegrationHealth extends Verdict {
  id: string;
  /** Unfinished runs by status (only the statuses that have some). */
  runs: Partial<Record<RunStatus, number>>;
  lastHour: {
    succeeded: number;
    failed: number;
    dead: number;
    capped: boolean;
    successRate: number | null;
    p95DurationMs: number | null;
  };
  lastSuccessAt: string | null;
  lastFailure: { runId: string; at: string; status: "failed" | "dead"; error: string | null } | null;
  oldestQueued: { runId: string; createdAt: string; ageMs: number } | null;
}

export interface ConnectionHealth extends Verdict {
  id: string;
  auth: { status: string; reason: string | null; type: string };
  circuit: { status: "closed" | "open" | "half_open"; consecutiveFailures: number; reopenAt: string | null };
  rateLimit: { waitMs: number; until: string | null };
  lastError: { at: string; status: number | null; error: string | null; method: string; url: string } | null;
  /** The newest run of failed requests (no answer, 5xx): still failing (recoveredAt null), or when it recovered. */
  failures: { count: number; capped: boolean; since: string; recoveredAt: string | null } | null;
  credentialsExpireAt: string | null;
}

export interface SourceHealth extends Verdict {
  source: string;
  lastEventAt: string | null;
  rejectionsLastHour: Record<string, number>;
}

export interface PollHealth extends Verdict {
  id: string;
  lastSuccessAt: string | null;
  lastError: string | null;
  consecutiveFailures: number;
  lagMs: number | null;
  nextPollAt: string | null;
}

export interface ScheduleHealth extends Verdict {
  integrationId: string;
  cron: string;
  lastTickAt: string | null;
  nextTickAt: string | null;
}

export interface HealthReport {
  status: HealthStatus;
  checkedAt: string;
  integrations: IntegrationHealth[];
  connections: ConnectionHealth[];
  webhookSources: SourceHealth[];
  polls: PollHealth[];
  schedules: ScheduleHealth[];
}

export interface Alert {
  fingerprint: string;
  status: "firing" | "resolved";
  rule: string;
  subject: string;
  severity: string;
  summary: string;
  count: number;
  firstSeenAt: string | null;
  lastSeenAt: string | null;
  resolvedAt: string | null;
  notifications: number;
  lastNotifiedAt: string | null;
  acknowledgedAt: string | null;
  acknowledgedBy: string | null;
  snoozedUntil: string | null;
}

export interface ConnectionSummary {
  id: string;
  baseUrl: string;
  authType: string;
  status: string;
  statusReason: string | null;
  expiresAt: number | null;
  hasStoredCredentials: boolean;
  circuit: { status: string; consecutiveFailures: number; reopenAt: number | null };
  rateLimit: { pausedUntil: number | null; slowRatePerSecond: number | null; slowUntil: number | null } | null;
}

/** `GET /api/connections/:id/activity`: the runs a connection holds now, and its last hour. */
export interface ConnectionActivity {
  held: { waiting: number; paused: number };
  lastHour: { waits: number; pauses: number; resumes: number; capped: boolean };
  lastWait: { runId: string; at: string; until: string | null; reason: string | null } | null;
  lastResume: { at: string; reason: string | null; runs: number } | null;
}

export interface DriftIncident {
  id: string;
  kind: "connection" | "webhook";
  subject: string;
  method: string | null;
  routeTemplate: string | null;
  status: number | null;
  eventType: string | null;
  fieldPath: string;
  change: "added" | "removed" | "type_changed" | "became_nullable" | "presence_dropped";
  breaking: boolean;
  example: string | null;
  detectedAt: string;
  lastSeenAt: string;
  seenCount: number;
  acceptedAt: string | null;
}

export type DeliveryState = "delivered" | "sending" | "retrying" | "failed";

/** `GET /api/alerts/deliveries`: one notification's delivery to one channel. */
export interface AlertDelivery {
  channel: string;
  notification: {
    id: string;
    fingerprint: string;
    episode: number;
    number: number;
    status: "firing" | "resolved";
    rule: string;
    subject: string;
    severity: string;
    summary: string;
  };
  state: DeliveryState;
  eventId: string;
  runId: string | null;
  queuedAt: string;
  failedAttempts: number;
  lastError: string | null;
  deliveredAt: string | null;
  nextAttemptAt: string | null;
}

export interface OperatorLogEntry {
  at: number;
  actor: string;
  role: Role | null;
  via: "api" | "cli";
  action: string;
  target: string | null;
  status: number | null;
  ip: string | null;
  detail: string | null;
}

export interface SearchResult {
  terms: { kind: string; value: string }[];
  runs: unknown[];
  exchanges: Exchange[];
  exchangesCut: string[];
  nextCursor: string | null;
}
