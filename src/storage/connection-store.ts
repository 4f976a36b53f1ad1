/**
 * The part of the storage contract that connections need: their credentials
 * (sealed by the vault before they get here: storage never sees a secret in
 * clear), their auth status, the shared rate-limit bucket and circuit breaker
 * every worker consults, the OAuth states of pending authorisations, and the
 * audit trail of outbound exchanges. Both backends implement it
 * (`sqlite/sqlite-connections.ts`, `postgres/postgres-connections.ts`).
 *
 * Times are epoch milliseconds from the engine's clock.
 */

export type ConnectionStatus = "active" | "auth_failed"; // credentials rejected (refresh refused, or a 401/403 survived a refresh): runs needing it are paused

export interface ConnectionRecord {
  id: string;
  status: ConnectionStatus;
  /** Why it is auth_failed (no secrets in it); null when active. */
  statusReason: string | null;
  statusChangedAt: number | null;
  /** The vault's sealed envelope of the stored credentials (JSON text, see vault.ts); null when none are stored. */
  sealedCredentials: string | null;
  /** Bumped on every credential write; a refresh commits only if nobody wrote since it read (compare-and-set). */
  credentialsVersion: number;
  /** When the stored credentials (an access token, a key with an end date) stop working; null if unknown. */
  expiresAt: number | null;
  updatedAt: number;
}

export interface SaveCredentialsInput {
  connectionId: string;
  sealedCredentials: string;
  expiresAt: number | null;
  /** Compare-and-set: the write happens only if the stored version is still this (0 = no row yet). Omit to overwrite. */
  expectedVersion?: number;
  /**
   * true when a person (CLI, API, OAuth callback) supplied new credentials: the connection becomes active
   * and its paused runs are queued again, in the same transaction. false for a routine token refresh,
   * which leaves the status alone.
   */
  restoresAccess: boolean;
  now: number;
}

export interface TokenRefreshClaim {
  connectionId: string;
  claimant: string;
  /** The credentials version the refresher read (0 = none stored): the refresh token it is about to spend. */
  expectedVersion: number;
  now: number;
  until: number;
}

export type SaveCredentialsResult =
  | { saved: true; version: number; resumedRuns: number }
  | { saved: false; version: number }; // the version moved on (someone else wrote): re-read and decide again

export interface ConnectionIncident {
  id: string;
  connectionId: string;
  /** What happened, for alerting (C10) and the operator's timeline. */
  kind: "auth_failed" | "auth_restored" | "circuit_opened" | "circuit_closed" | "rate_limited";
  detail: string;
  at: number;
}

/** The shared token bucket of a connection. `ratePerSecond` null means no configured limit (only adaptive pauses apply). */
export interface TakeRateLimitTokenInput {
  connectionId: string;
  ratePerSecond: number | null;
  burst: number;
  now: number;
  /** Reserve a token only if it is available within this many ms; otherwise reserve nothing and report the wait. */
  maxWaitMs: number;
}

export interface RateLimitGrant {
  /** true: a token is reserved for this caller, to be used after `waitMs`. false: nothing taken; come back after `waitMs`. */
  granted: boolean;
  waitMs: number;
}

/** What the API told us about its limits (429, Retry-After, X-RateLimit-*, RateLimit headers). */
export interface RateLimitSignal {
  connectionId: string;
  /** No request may start before this time (429 with Retry-After, remaining = 0 until reset). */
  pausedUntil?: number;
  /** Until `slowUntil`, requests are spread at this rate instead of the configured one (remaining quota over the time left). */
  slowRatePerSecond?: number;
  slowUntil?: number;
  now: number;
}

export interface RateLimitState {
  connectionId: string;
  tokens: number;
  refilledAt: number;
  pausedUntil: number | null;
  slowRatePerSecond: number | null;
  slowUntil: number | null;
}

export type CircuitStatus = "closed" | "open" | "half_open";

export interface CircuitState {
  connectionId: string;
  status: CircuitStatus;
  consecutiveFailures: number;
  openedAt: number | null;
  /** While open: when a single probe may be tried. */
  reopenAt: number | null;
  /** While half-open: the probe's lease; another probe is allowed once it passes. */
  probeUntil: number | null;
}

export interface RecordCircuitFailureInput {
  connectionId: string;
  /** Consecutive retryable failures that open the circuit. */
  threshold: number;
  /** How long it stays open before a probe (a failed probe opens it again for this long). */
  cooldownMs: number;
  error: string;
  now: number;
  /** The failed request was this probe (claimCircuitProbe): it counts only while that probe is the circuit's current one. */
  probeId?: string;
}

export interface AuditRecord {
  id: string;
  connectionId: string;
  runId: string | null;
  stepName: string | null;
  method: string;
  /** Secret query parameters already removed. */
  url: string;
  /** null when no response came (network error, timeout). */
  status: number | null;
  /** Network error or timeout, without secrets. */
  error: string | null;
  durationMs: number;
  /** JSON object text, secrets already redacted. */
  requestHeaders: string;
  requestBody: string | null;
  responseHeaders: string | null;
  responseBody: string | null;
  at: number;
}

export interface AuditFilter {
  runId?: string;
  connectionId?: string;
  /** Most recent first. Default 100. */
  limit?: number;
}

export interface PendingAuthorization {
  /** The OAuth `state` parameter: random, single use. */
  state: string;
  connectionId: string;
  /** The PKCE code verifier, sealed by the vault. */
  sealedVerifier: string;
  /** Where to send the operator after the callback, if they asked. */
  returnTo: string | null;
  expiresAt: number;
}

export interface ConnectionStore {
  getConnection(connectionId: string): Promise<ConnectionRecord | null>;
  listConnections(): Promise<ConnectionRecord[]>;
  saveCredentials(input: SaveCredentialsInput): Promise<SaveCredentialsResult>;
  /**
   * Marks the connection auth_failed with the reason (creating its row if needed). Returns true only when
   * this call changed the status, so the caller records one incident per failure, not one per run.
   * With `expectedVersion` (the credentials version the refused attempt used), nothing changes if other
   * credentials were stored since: a refusal of the old ones must not fail the new ones.
   */
  markAuthFailed(connectionId: string, reason: string, now: number, expectedVersion?: number): Promise<boolean>;
  /**
   * Runs `fn` while holding the connection's refresh lock, so that refreshers take turns across all workers
   * and wait for each other's result instead of asking for tokens of their own: a transaction-scoped advisory
   * lock on PostgreSQL; on SQLite, which one process owns, an in-process lock. On PostgreSQL the lock can be
   * lost while `fn` runs, without `fn` knowing (the lock's connection broke, or was ended by the server):
   * what protects the refresh token is the claim below, not the lock.
   */
  withRefreshLock<T>(connectionId: string, fn: () => Promise<T>): Promise<T>;
  /**
   * Claims the right to send the connection's next token request (and so to spend its stored refresh token)
   * for `claimant` until `until`: only while the credentials are still at `expectedVersion` and no other
   * claim is live. Two refreshers must never send the same refresh token: a provider that rotates them
   * answers the second with invalid_grant, and may revoke the whole grant. Saving credentials ends the claim.
   */
  claimTokenRefresh(input: TokenRefreshClaim): Promise<boolean>;
  /** Ends `claimant`'s claim before its time: its token request was answered, or never sent, so nobody need wait. */
  releaseTokenRefresh(connectionId: string, claimant: string): Promise<void>;
  /** Every stored sealed envelope, for master-key rotation. */
  listSealedSecrets(): Promise<{ kind: "credentials" | "authorization"; id: string; sealed: string }[]>;
  /** Replaces one sealed envelope if it is still `previous` (rotation races a refresh: the refresh wins, rotation retries). */
  resealSecret(kind: "credentials" | "authorization", id: string, previous: string, next: string): Promise<boolean>;

  takeRateLimitToken(input: TakeRateLimitTokenInput): Promise<RateLimitGrant>;
  recordRateLimitSignal(signal: RateLimitSignal): Promise<void>;
  getRateLimitState(connectionId: string): Promise<RateLimitState | null>;

  getCircuit(connectionId: string): Promise<CircuitState>;
  /** Counts a retryable failure; opens the circuit at the threshold (or reopens it after a failed probe). */
  recordCircuitFailure(input: RecordCircuitFailureInput): Promise<CircuitState>;
  /**
   * A request succeeded: resets the failure count and, if the circuit was open or half-open, closes it and
   * makes the runs waiting on it due now. `closed` is true for the one call (across workers) that closed it.
   * With `probeId` (the success of a probe) nothing changes unless that probe is still the circuit's current
   * one: a probe whose lease lapsed must not close a circuit that a newer probe is testing or has reopened.
   */
  recordCircuitSuccess(
    connectionId: string,
    now: number,
    probeId?: string,
  ): Promise<{ closed: boolean; wokenRuns: number }>;
  /**
   * Takes the single probe of an open circuit whose reopen time has come, under the caller's `probeId`, until
   * `now + probeLeaseMs`; false if another worker has it. Once that lease has passed another probe may be
   * claimed, and the earlier probe's outcome no longer counts.
   */
  claimCircuitProbe(connectionId: string, now: number, probeLeaseMs: number, probeId: string): Promise<boolean>;

  recordIncident(incident: ConnectionIncident): Promise<void>;
  listIncidents(filter?: { connectionId?: string; limit?: number }): Promise<ConnectionIncident[]>;

  appendAudit(records: AuditRecord[]): Promise<void>;
  listAudit(filter?: AuditFilter): Promise<AuditRecord[]>;

  savePendingAuthorization(pending: PendingAuthorization): Promise<void>;
  /** Returns and deletes the pending authorization (single use); null if unknown or expired. */
  takePendingAuthorization(state: string, now: number): Promise<PendingAuthorization | null>;
}
