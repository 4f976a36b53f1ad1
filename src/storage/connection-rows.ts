import type {
  AuditRecord,
  CircuitState,
  ConnectionIncident,
  ConnectionRecord,
  PendingAuthorization,
  RateLimitState,
} from "./connection-store.ts";

/** Row shapes of the connection tables as both backends return them (snake_case, numbers for int64). */
export interface ConnectionRow {
  id: string;
  status: string;
  status_reason: string | null;
  status_changed_at: number | null;
  sealed_credentials: string | null;
  credentials_version: number;
  expires_at: number | null;
  updated_at: number;
}

export interface IncidentRow {
  id: string;
  connection_id: string;
  kind: string;
  detail: string;
  at: number;
}

export interface RateLimitRow {
  connection_id: string;
  tokens: number;
  refilled_at: number;
  paused_until: number | null;
  slow_rate: number | null;
  slow_until: number | null;
}

export interface CircuitRow {
  connection_id: string;
  status: string;
  consecutive_failures: number;
  opened_at: number | null;
  reopen_at: number | null;
  probe_until: number | null;
  /** The current probe's id while half-open (stale otherwise); storage's own, not part of CircuitState. */
  probe_id: string | null;
}

export interface AuditRow {
  id: string;
  connection_id: string;
  run_id: string | null;
  step_name: string | null;
  method: string;
  url: string;
  status: number | null;
  error: string | null;
  duration_ms: number;
  request_headers: string;
  request_body: string | null;
  response_headers: string | null;
  response_body: string | null;
  at: number;
}

export interface PendingAuthorizationRow {
  state: string;
  connection_id: string;
  sealed_verifier: string;
  return_to: string | null;
  expires_at: number;
}

export const connectionColumns =
  "id, status, status_reason, status_changed_at, sealed_credentials, credentials_version, expires_at, updated_at";
export const circuitColumns =
  "connection_id, status, consecutive_failures, opened_at, reopen_at, probe_until, probe_id";
export const rateLimitColumns = "connection_id, tokens, refilled_at, paused_until, slow_rate, slow_until";

export const auditColumns =
  "id, connection_id, run_id, step_name, method, url, status, error, duration_ms, request_headers, request_body, response_headers, response_body, at";

export function toConnectionRecord(row: ConnectionRow): ConnectionRecord {
  return {
    id: row.id,
    status: row.status as ConnectionRecord["status"],
    statusReason: row.status_reason,
    statusChangedAt: row.status_changed_at,
    sealedCredentials: row.sealed_credentials,
    credentialsVersion: row.credentials_version,
    expiresAt: row.expires_at,
    updatedAt: row.updated_at,
  };
}

export function toIncident(row: IncidentRow): ConnectionIncident {
  return {
    id: row.id,
    connectionId: row.connection_id,
    kind: row.kind as ConnectionIncident["kind"],
    detail: row.detail,
    at: row.at,
  };
}

export function toRateLimitState(row: RateLimitRow): RateLimitState {
  return {
    connectionId: row.connection_id,
    tokens: row.tokens,
    refilledAt: row.refilled_at,
    pausedUntil: row.paused_until,
    slowRatePerSecond: row.slow_rate,
    slowUntil: row.slow_until,
  };
}

export function toCircuitState(row: CircuitRow): CircuitState {
  return {
    connectionId: row.connection_id,
    status: row.status as CircuitState["status"],
    consecutiveFailures: row.consecutive_failures,
    openedAt: row.opened_at,
    reopenAt: row.reopen_at,
    probeUntil: row.probe_until,
  };
}

export function toAuditRecord(row: AuditRow): AuditRecord {
  return {
    id: row.id,
    connectionId: row.connection_id,
    runId: row.run_id,
    stepName: row.step_name,
    method: row.method,
    url: row.url,
    status: row.status,
    error: row.error,
    durationMs: row.duration_ms,
    requestHeaders: row.request_headers,
    requestBody: row.request_body,
    responseHeaders: row.response_headers,
    responseBody: row.response_body,
    at: row.at,
  };
}

export function toPendingAuthorization(row: PendingAuthorizationRow): PendingAuthorization {
  return {
    state: row.state,
    connectionId: row.connection_id,
    sealedVerifier: row.sealed_verifier,
    returnTo: row.return_to,
    expiresAt: row.expires_at,
  };
}
