import type Database from "better-sqlite3";
import {
  type AuditRow,
  auditColumns,
  type CircuitRow,
  type ConnectionRow,
  circuitColumns,
  connectionColumns,
  type IncidentRow,
  type PendingAuthorizationRow,
  type RateLimitRow,
  rateLimitColumns,
  toAuditRecord,
  toCircuitState,
  toConnectionRecord,
  toIncident,
  toPendingAuthorization,
  toRateLimitState,
} from "../connection-rows.ts";
import { circuitAfterFailure, closedCircuit, successChangesCircuit, takeFromBucket } from "../connection-rules.ts";
import type {
  AuditFilter,
  AuditRecord,
  CircuitState,
  ConnectionIncident,
  ConnectionRecord,
  ConnectionStore,
  PendingAuthorization,
  RateLimitGrant,
  RateLimitSignal,
  RateLimitState,
  RecordCircuitFailureInput,
  SaveCredentialsInput,
  SaveCredentialsResult,
  TakeRateLimitTokenInput,
  TokenRefreshClaim,
} from "../connection-store.ts";
import { KeyedMutex } from "../keyed-mutex.ts";
import { recordResumes, resumePausedRuns, resumePausedRunsOnSqlite } from "../transitions/resume-paused-runs.ts";
import { recordWakes, wakeWaitingRuns, wakeWaitingRunsOnSqlite } from "../transitions/wake-waiting-runs.ts";
import { SqliteAuditLog } from "./sqlite-audit-log.ts";

/** Every connection query on SQLite, as SQL in full. */
export const sqliteConnectionSql = {
  getConnection: `SELECT ${connectionColumns} FROM connections WHERE id = ?`,
  listConnections: `SELECT ${connectionColumns} FROM connections ORDER BY id`,
  credentialsVersion: "SELECT credentials_version FROM connections WHERE id = ?",
  /** The caller checked the version in the same transaction, which holds the write lock since. */
  saveCredentials: `INSERT INTO connections (id, status, status_reason, status_changed_at, sealed_credentials, credentials_version, expires_at, updated_at)
    VALUES (@connectionId, 'active', NULL, @now, @sealedCredentials, 1, @expiresAt, @now)
    ON CONFLICT (id) DO UPDATE SET
      sealed_credentials = excluded.sealed_credentials,
      credentials_version = connections.credentials_version + 1,
      expires_at = excluded.expires_at,
      updated_at = excluded.updated_at,
      refresh_claimant = NULL,
      refresh_until = NULL,
      status = CASE WHEN @restoresAccess THEN 'active' ELSE connections.status END,
      status_reason = CASE WHEN @restoresAccess THEN NULL ELSE connections.status_reason END,
      status_changed_at = CASE WHEN @restoresAccess AND connections.status <> 'active' THEN excluded.updated_at
        ELSE connections.status_changed_at END
    RETURNING credentials_version`,
  /** The runs a connection moves are transitions (../transitions/), prepared here for this store's transactions. */
  recordResumes: recordResumes.sqlite,
  resumePausedRuns: resumePausedRuns.sqlite,
  /** Changes nothing when already auth_failed, so only the first of many failing runs reports the failure. */
  markAuthFailed: `INSERT INTO connections (id, status, status_reason, status_changed_at, sealed_credentials, credentials_version, expires_at, updated_at)
    VALUES (@connectionId, 'auth_failed', @reason, @now, NULL, 0, NULL, @now)
    ON CONFLICT (id) DO UPDATE SET
      status = 'auth_failed', status_reason = excluded.status_reason, status_changed_at = excluded.status_changed_at,
      updated_at = excluded.updated_at
    WHERE connections.status <> 'auth_failed'
      AND (@expectedVersion IS NULL OR connections.credentials_version = @expectedVersion)`,
  /** A connection with nothing stored yet gets its row (version 0), so that its first token request can be claimed. */
  ensureConnection: `INSERT INTO connections (id, status, credentials_version, updated_at) VALUES (@connectionId, 'active', 0, @now)
    ON CONFLICT (id) DO NOTHING`,
  /** Only for the version the refresher read, and only while no other claim is live. */
  claimTokenRefresh: `UPDATE connections SET refresh_claimant = @claimant, refresh_until = @until
    WHERE id = @connectionId AND credentials_version = @expectedVersion
      AND (refresh_until IS NULL OR refresh_until < @now)`,
  releaseTokenRefresh: `UPDATE connections SET refresh_claimant = NULL, refresh_until = NULL
    WHERE id = ? AND refresh_claimant = ?`,

  listSealedSecrets: `SELECT 'credentials' AS kind, id, sealed_credentials AS sealed FROM connections WHERE sealed_credentials IS NOT NULL
    UNION ALL
    SELECT 'authorization' AS kind, state AS id, sealed_verifier AS sealed FROM oauth_pending`,
  /** Same credentials under a new key: the version stays, so a refresh racing the rotation keeps its compare-and-set. */
  resealCredentials:
    "UPDATE connections SET sealed_credentials = @next WHERE id = @id AND sealed_credentials = @previous",
  resealVerifier: "UPDATE oauth_pending SET sealed_verifier = @next WHERE state = @id AND sealed_verifier = @previous",

  getRateLimit: `SELECT ${rateLimitColumns} FROM rate_limits WHERE connection_id = ?`,
  /** A bucket starts full. */
  ensureBucket: `INSERT INTO rate_limits (connection_id, tokens, refilled_at) VALUES (@connectionId, @burst, @now)
    ON CONFLICT (connection_id) DO NOTHING`,
  storeBucket: "UPDATE rate_limits SET tokens = @tokens, refilled_at = @refilledAt WHERE connection_id = @connectionId",
  /**
   * A pause only ever grows (two workers reading different 429s keep the later end). A bucket first made by a
   * signal starts empty: the API just asked us to slow down, so no burst on top of that.
   */
  recordRateLimitSignal: `INSERT INTO rate_limits (connection_id, tokens, refilled_at, paused_until, slow_rate, slow_until)
    VALUES (@connectionId, 0, @now, @pausedUntil, @slowRate, @slowUntil)
    ON CONFLICT (connection_id) DO UPDATE SET
      paused_until = COALESCE(max(rate_limits.paused_until, excluded.paused_until), excluded.paused_until, rate_limits.paused_until),
      slow_rate = COALESCE(excluded.slow_rate, rate_limits.slow_rate),
      slow_until = COALESCE(excluded.slow_until, rate_limits.slow_until)`,

  getCircuit: `SELECT ${circuitColumns} FROM circuits WHERE connection_id = ?`,
  ensureCircuit: `INSERT INTO circuits (connection_id, status, consecutive_failures) VALUES (?, 'closed', 0)
    ON CONFLICT (connection_id) DO NOTHING`,
  storeCircuit: `UPDATE circuits SET status = @status, consecutive_failures = @consecutiveFailures, opened_at = @openedAt,
      reopen_at = @reopenAt, probe_until = @probeUntil
    WHERE connection_id = @connectionId`,
  closeCircuit: `UPDATE circuits SET status = 'closed', consecutive_failures = 0, opened_at = NULL, reopen_at = NULL, probe_until = NULL
    WHERE connection_id = ?`,
  /** The API is back: runs waiting out the circuit's cooldown need not wait any longer. */
  recordWakes: recordWakes.sqlite,
  wakeWaitingRuns: wakeWaitingRuns.sqlite,
  /** One probe at a time across workers; a probe whose worker vanished frees the next one when its lease ends. */
  claimCircuitProbe: `UPDATE circuits SET status = 'half_open', probe_until = @probeUntil, probe_id = @probeId
    WHERE connection_id = @connectionId
      AND ((status = 'open' AND reopen_at <= @now) OR (status = 'half_open' AND probe_until < @now))`,

  insertIncident: `INSERT INTO connection_incidents (id, connection_id, kind, detail, at)
    VALUES (@id, @connectionId, @kind, @detail, @at)`,
  recentIncidents:
    "SELECT id, connection_id, kind, detail, at FROM connection_incidents ORDER BY at DESC, id DESC LIMIT ?",
  incidentsOfConnection: `SELECT id, connection_id, kind, detail, at FROM connection_incidents WHERE connection_id = ?
    ORDER BY at DESC, id DESC LIMIT ?`,

  recentAudit: `SELECT ${auditColumns} FROM audit_log ORDER BY at DESC, id DESC LIMIT ?`,
  auditOfConnection: `SELECT ${auditColumns} FROM audit_log WHERE connection_id = ? ORDER BY at DESC, id DESC LIMIT ?`,
  auditOfRun: `SELECT ${auditColumns} FROM audit_log WHERE run_id = @runId AND (@connectionId IS NULL OR connection_id = @connectionId)
    ORDER BY at DESC, id DESC LIMIT @limit`,

  insertPendingAuthorization: `INSERT INTO oauth_pending (state, connection_id, sealed_verifier, return_to, expires_at)
    VALUES (@state, @connectionId, @sealedVerifier, @returnTo, @expiresAt)`,
  /** Sweeps the expired states of abandoned authorisations on the way. */
  takePendingAuthorization: `DELETE FROM oauth_pending WHERE state = @state OR expires_at <= @now
    RETURNING state, connection_id, sealed_verifier, return_to, expires_at`,
} as const;

type Statements = { [K in keyof typeof sqliteConnectionSql]: Database.Statement };
type SealedSecret = Awaited<ReturnType<ConnectionStore["listSealedSecrets"]>>[number];

/** How the storage writes: both are BEGIN IMMEDIATE transactions; only `durably` waits for the WAL to reach the disk. */
export interface SqliteWriters {
  immediate<T>(fn: () => T): T;
  durably<T>(fn: () => T): Promise<T>;
}

/**
 * Connections on SQLite. What must survive a power cut (credentials, auth status, sealed secrets, OAuth
 * states) is written durably; rate-limit buckets, circuits and the audit trail are cheap to lose and
 * frequent, so they do not wait for the fsync.
 */
export class SqliteConnections implements ConnectionStore {
  readonly #db: Database.Database;
  readonly #writers: SqliteWriters;
  readonly #refreshLocks = new KeyedMutex();
  readonly #auditLog: SqliteAuditLog;
  #statements: Statements | undefined;

  constructor(db: Database.Database, writers: SqliteWriters) {
    this.#db = db;
    this.#writers = writers;
    this.#auditLog = new SqliteAuditLog(db);
  }

  /** Called by the storage's migrate(), once the tables exist. */
  prepare(): void {
    this.#statements = Object.fromEntries(
      Object.entries(sqliteConnectionSql).map(([name, text]) => [name, this.#db.prepare(text)]),
    ) as Statements;
  }

  get #sql(): Statements {
    if (!this.#statements)
      throw new Error("storage used before migrate(): call storage.migrate() (engine.start() does)");
    return this.#statements;
  }

  async getConnection(connectionId: string): Promise<ConnectionRecord | null> {
    const row = this.#sql.getConnection.get(connectionId) as ConnectionRow | undefined;
    return row ? toConnectionRecord(row) : null;
  }

  async listConnections(): Promise<ConnectionRecord[]> {
    return (this.#sql.listConnections.all() as ConnectionRow[]).map(toConnectionRecord);
  }

  async saveCredentials(input: SaveCredentialsInput): Promise<SaveCredentialsResult> {
    const s = this.#sql;
    return this.#writers.durably(() => {
      const current = s.credentialsVersion.get(input.connectionId) as { credentials_version: number } | undefined;
      const currentVersion = current?.credentials_version ?? 0;
      if (input.expectedVersion !== undefined && input.expectedVersion !== currentVersion)
        return { saved: false, version: currentVersion };
      const { credentials_version: version } = s.saveCredentials.get({
        connectionId: input.connectionId,
        sealedCredentials: input.sealedCredentials,
        expiresAt: input.expiresAt,
        restoresAccess: input.restoresAccess ? 1 : 0,
        now: input.now,
      }) as { credentials_version: number };
      const resumedRuns = input.restoresAccess ? resumePausedRunsOnSqlite(s, input.connectionId, input.now) : 0;
      return { saved: true, version, resumedRuns };
    });
  }

  async markAuthFailed(connectionId: string, reason: string, now: number, expectedVersion?: number): Promise<boolean> {
    const s = this.#sql;
    return this.#writers.durably(
      () => s.markAuthFailed.run({ connectionId, reason, now, expectedVersion: expectedVersion ?? null }).changes === 1,
    );
  }

  withRefreshLock<T>(connectionId: string, fn: () => Promise<T>): Promise<T> {
    return this.#refreshLocks.run(connectionId, fn);
  }

  async claimTokenRefresh(input: TokenRefreshClaim): Promise<boolean> {
    const s = this.#sql;
    return this.#writers.immediate(() => {
      if (input.expectedVersion === 0) s.ensureConnection.run(input);
      return s.claimTokenRefresh.run(input).changes === 1;
    });
  }

  async releaseTokenRefresh(connectionId: string, claimant: string): Promise<void> {
    this.#sql.releaseTokenRefresh.run(connectionId, claimant);
  }

  async listSealedSecrets(): Promise<SealedSecret[]> {
    return this.#sql.listSealedSecrets.all() as SealedSecret[];
  }

  async resealSecret(kind: SealedSecret["kind"], id: string, previous: string, next: string): Promise<boolean> {
    const statement = kind === "credentials" ? this.#sql.resealCredentials : this.#sql.resealVerifier;
    return this.#writers.durably(() => statement.run({ id, previous, next }).changes === 1);
  }

  async takeRateLimitToken(input: TakeRateLimitTokenInput): Promise<RateLimitGrant> {
    const s = this.#sql;
    return this.#writers.immediate(() => {
      const { connectionId, now, burst } = input;
      s.ensureBucket.run({ connectionId, burst, now });
      const row = s.getRateLimit.get(connectionId) as RateLimitRow;
      const { tokens, refilledAt, grant } = takeFromBucket(toRateLimitState(row), input);
      s.storeBucket.run({ connectionId, tokens, refilledAt });
      return grant;
    });
  }

  async recordRateLimitSignal(signal: RateLimitSignal): Promise<void> {
    this.#sql.recordRateLimitSignal.run({
      connectionId: signal.connectionId,
      now: signal.now,
      pausedUntil: signal.pausedUntil ?? null,
      slowRate: signal.slowRatePerSecond ?? null,
      slowUntil: signal.slowUntil ?? null,
    });
  }

  async getRateLimitState(connectionId: string): Promise<RateLimitState | null> {
    const row = this.#sql.getRateLimit.get(connectionId) as RateLimitRow | undefined;
    return row ? toRateLimitState(row) : null;
  }

  async getCircuit(connectionId: string): Promise<CircuitState> {
    const row = this.#sql.getCircuit.get(connectionId) as CircuitRow | undefined;
    return row ? toCircuitState(row) : closedCircuit(connectionId);
  }

  async recordCircuitFailure(input: RecordCircuitFailureInput): Promise<CircuitState> {
    const s = this.#sql;
    return this.#writers.immediate(() => {
      s.ensureCircuit.run(input.connectionId);
      const row = s.getCircuit.get(input.connectionId) as CircuitRow;
      const next = circuitAfterFailure(toCircuitState(row), row.probe_id, input);
      s.storeCircuit.run(next);
      return next;
    });
  }

  async recordCircuitSuccess(
    connectionId: string,
    now: number,
    probeId?: string,
  ): Promise<{ closed: boolean; wokenRuns: number }> {
    const s = this.#sql;
    return this.#writers.immediate(() => {
      const row = s.getCircuit.get(connectionId) as CircuitRow | undefined;
      if (!row || !successChangesCircuit(toCircuitState(row), row.probe_id, probeId)) {
        return { closed: false, wokenRuns: 0 };
      }
      s.closeCircuit.run(connectionId);
      if (row.status === "closed") return { closed: false, wokenRuns: 0 };
      return { closed: true, wokenRuns: wakeWaitingRunsOnSqlite(s, connectionId, now) };
    });
  }

  async claimCircuitProbe(connectionId: string, now: number, probeLeaseMs: number, probeId: string): Promise<boolean> {
    const claim = { connectionId, now, probeUntil: now + probeLeaseMs, probeId };
    return this.#sql.claimCircuitProbe.run(claim).changes === 1;
  }

  async recordIncident(incident: ConnectionIncident): Promise<void> {
    this.#sql.insertIncident.run(incident);
  }

  async listIncidents(filter: { connectionId?: string; limit?: number } = {}): Promise<ConnectionIncident[]> {
    const limit = filter.limit ?? 100;
    const rows = filter.connectionId
      ? this.#sql.incidentsOfConnection.all(filter.connectionId, limit)
      : this.#sql.recentIncidents.all(limit);
    return (rows as IncidentRow[]).map(toIncident);
  }

  async appendAudit(records: AuditRecord[]): Promise<void> {
    if (records.length === 0) return;
    this.#writers.immediate(() => this.#auditLog.write(records));
  }

  async listAudit(filter: AuditFilter = {}): Promise<AuditRecord[]> {
    const limit = filter.limit ?? 100;
    const s = this.#sql;
    let rows: unknown[];
    if (filter.runId)
      rows = s.auditOfRun.all({ runId: filter.runId, connectionId: filter.connectionId ?? null, limit });
    else if (filter.connectionId) rows = s.auditOfConnection.all(filter.connectionId, limit);
    else rows = s.recentAudit.all(limit);
    return (rows as AuditRow[]).map(toAuditRecord);
  }

  async savePendingAuthorization(pending: PendingAuthorization): Promise<void> {
    const insert = this.#sql.insertPendingAuthorization;
    await this.#writers.durably(() => insert.run(pending));
  }

  async takePendingAuthorization(state: string, now: number): Promise<PendingAuthorization | null> {
    const rows = this.#sql.takePendingAuthorization.all({ state, now }) as PendingAuthorizationRow[];
    const row = rows.find((r) => r.state === state && r.expires_at > now);
    return row ? toPendingAuthorization(row) : null;
  }
}
