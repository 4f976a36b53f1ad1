import type pg from "pg";
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
import { resumePausedRunsOnPostgres } from "../transitions/resume-paused-runs.ts";
import { wakeWaitingRunsOnPostgres } from "../transitions/wake-waiting-runs.ts";
import { writeAuditRecords } from "./postgres-audit-log.ts";

/**
 * Every connection query on PostgreSQL, as SQL in full. Shared state that workers update concurrently
 * (bucket, circuit) is read FOR UPDATE and written back in the same transaction.
 */
export const postgresConnectionSql = {
  getConnection: `SELECT ${connectionColumns} FROM connections WHERE id = $1`,
  listConnections: `SELECT ${connectionColumns} FROM connections ORDER BY id`,
  credentialsVersion: "SELECT credentials_version FROM connections WHERE id = $1",
  /**
   * The version check is repeated here because a writer may have created the row since it was read. Updating
   * the row also waits for any pauseRun holding it FOR SHARE, so the runs it paused are resumed just after.
   */
  saveCredentials: `INSERT INTO connections (id, status, status_reason, status_changed_at, sealed_credentials, credentials_version, expires_at, updated_at)
    VALUES ($1, 'active', NULL, $5, $2, 1, $3, $5)
    ON CONFLICT (id) DO UPDATE SET
      sealed_credentials = EXCLUDED.sealed_credentials,
      credentials_version = connections.credentials_version + 1,
      expires_at = EXCLUDED.expires_at,
      updated_at = EXCLUDED.updated_at,
      refresh_claimant = NULL,
      refresh_until = NULL,
      status = CASE WHEN $6::boolean THEN 'active' ELSE connections.status END,
      status_reason = CASE WHEN $6::boolean THEN NULL ELSE connections.status_reason END,
      status_changed_at = CASE WHEN $6::boolean AND connections.status <> 'active' THEN EXCLUDED.updated_at
        ELSE connections.status_changed_at END
    WHERE $4::integer IS NULL OR connections.credentials_version = $4::integer
    RETURNING credentials_version`,
  /** Changes nothing when already auth_failed, so only the first of many failing runs reports the failure. */
  markAuthFailed: `INSERT INTO connections (id, status, status_reason, status_changed_at, sealed_credentials, credentials_version, expires_at, updated_at)
    VALUES ($1, 'auth_failed', $2, $3, NULL, 0, NULL, $3)
    ON CONFLICT (id) DO UPDATE SET
      status = 'auth_failed', status_reason = EXCLUDED.status_reason, status_changed_at = EXCLUDED.status_changed_at,
      updated_at = EXCLUDED.updated_at
    WHERE connections.status <> 'auth_failed'
      AND ($4::integer IS NULL OR connections.credentials_version = $4::integer)`,
  /** Per schema, so two Tenon installations sharing a database do not wait on each other. */
  takeRefreshLock: "SELECT pg_advisory_xact_lock(hashtext('tenon_refresh:' || current_schema() || ':' || $1))",
  /** A connection with nothing stored yet gets its row (version 0), so that its first token request can be claimed. */
  ensureConnection: `INSERT INTO connections (id, status, credentials_version, updated_at) VALUES ($1, 'active', 0, $2)
    ON CONFLICT (id) DO NOTHING`,
  /** Only for the version the refresher read, and only while no other claim is live. */
  claimTokenRefresh: `UPDATE connections SET refresh_claimant = $2, refresh_until = $3
    WHERE id = $1 AND credentials_version = $4 AND (refresh_until IS NULL OR refresh_until < $5)`,
  releaseTokenRefresh:
    "UPDATE connections SET refresh_claimant = NULL, refresh_until = NULL WHERE id = $1 AND refresh_claimant = $2",

  listSealedSecrets: `SELECT 'credentials' AS kind, id, sealed_credentials AS sealed FROM connections WHERE sealed_credentials IS NOT NULL
    UNION ALL
    SELECT 'authorization' AS kind, state AS id, sealed_verifier AS sealed FROM oauth_pending`,
  /** Same credentials under a new key: the version stays, so a refresh racing the rotation keeps its compare-and-set. */
  resealCredentials: "UPDATE connections SET sealed_credentials = $3 WHERE id = $1 AND sealed_credentials = $2",
  resealVerifier: "UPDATE oauth_pending SET sealed_verifier = $3 WHERE state = $1 AND sealed_verifier = $2",

  getRateLimit: `SELECT ${rateLimitColumns} FROM rate_limits WHERE connection_id = $1`,
  lockBucket: `SELECT ${rateLimitColumns} FROM rate_limits WHERE connection_id = $1 FOR UPDATE`,
  /** A bucket starts full. */
  ensureBucket: `INSERT INTO rate_limits (connection_id, tokens, refilled_at) VALUES ($1, $2, $3)
    ON CONFLICT (connection_id) DO NOTHING`,
  storeBucket: "UPDATE rate_limits SET tokens = $2, refilled_at = $3 WHERE connection_id = $1",
  /**
   * A pause only ever grows (two workers reading different 429s keep the later end). A bucket first made by a
   * signal starts empty: the API just asked us to slow down, so no burst on top of that.
   */
  recordRateLimitSignal: `INSERT INTO rate_limits (connection_id, tokens, refilled_at, paused_until, slow_rate, slow_until)
    VALUES ($1, 0, $2, $3, $4, $5)
    ON CONFLICT (connection_id) DO UPDATE SET
      paused_until = GREATEST(rate_limits.paused_until, EXCLUDED.paused_until),
      slow_rate = COALESCE(EXCLUDED.slow_rate, rate_limits.slow_rate),
      slow_until = COALESCE(EXCLUDED.slow_until, rate_limits.slow_until)`,

  getCircuit: `SELECT ${circuitColumns} FROM circuits WHERE connection_id = $1`,
  lockCircuit: `SELECT ${circuitColumns} FROM circuits WHERE connection_id = $1 FOR UPDATE`,
  ensureCircuit: `INSERT INTO circuits (connection_id, status, consecutive_failures) VALUES ($1, 'closed', 0)
    ON CONFLICT (connection_id) DO NOTHING`,
  storeCircuit: `UPDATE circuits SET status = $2, consecutive_failures = $3, opened_at = $4, reopen_at = $5, probe_until = $6
    WHERE connection_id = $1`,
  closeCircuit: `UPDATE circuits SET status = 'closed', consecutive_failures = 0, opened_at = NULL, reopen_at = NULL, probe_until = NULL
    WHERE connection_id = $1`,
  /** One probe at a time across workers; a probe whose worker vanished frees the next one when its lease ends. */
  claimCircuitProbe: `UPDATE circuits SET status = 'half_open', probe_until = $3, probe_id = $4
    WHERE connection_id = $1
      AND ((status = 'open' AND reopen_at <= $2) OR (status = 'half_open' AND probe_until < $2))`,

  insertIncident: `INSERT INTO connection_incidents (id, connection_id, kind, detail, at) VALUES ($1, $2, $3, $4, $5)`,
  recentIncidents:
    "SELECT id, connection_id, kind, detail, at FROM connection_incidents ORDER BY at DESC, id DESC LIMIT $1",
  incidentsOfConnection: `SELECT id, connection_id, kind, detail, at FROM connection_incidents WHERE connection_id = $1
    ORDER BY at DESC, id DESC LIMIT $2`,

  recentAudit: `SELECT ${auditColumns} FROM audit_log ORDER BY at DESC, id DESC LIMIT $1`,
  auditOfConnection: `SELECT ${auditColumns} FROM audit_log WHERE connection_id = $1 ORDER BY at DESC, id DESC LIMIT $2`,
  auditOfRun: `SELECT ${auditColumns} FROM audit_log WHERE run_id = $1 AND ($2::text IS NULL OR connection_id = $2)
    ORDER BY at DESC, id DESC LIMIT $3`,

  insertPendingAuthorization: `INSERT INTO oauth_pending (state, connection_id, sealed_verifier, return_to, expires_at)
    VALUES ($1, $2, $3, $4, $5)`,
  /** Sweeps the expired states of abandoned authorisations on the way. */
  takePendingAuthorization: `DELETE FROM oauth_pending WHERE state = $1 OR expires_at <= $2
    RETURNING state, connection_id, sealed_verifier, return_to, expires_at`,
} as const;

const q = postgresConnectionSql;

type Client = pg.PoolClient;
type SealedSecret = Awaited<ReturnType<ConnectionStore["listSealedSecrets"]>>[number];

export interface PostgresConnectionsDeps {
  pool: pg.Pool;
  /** The storage's transaction runner (retries deadlocks and serialization failures). */
  transaction<T>(work: (client: Client) => Promise<T>): Promise<T>;
  /** A connection of its own, outside the pool, for holding a refresh lock. */
  openClient(): pg.Client;
}

/** Connections on PostgreSQL, shared by every worker of the schema. */
export class PostgresConnections implements ConnectionStore {
  readonly #pool: pg.Pool;
  readonly #deps: PostgresConnectionsDeps;
  readonly #refreshLocks = new KeyedMutex();

  constructor(deps: PostgresConnectionsDeps) {
    this.#pool = deps.pool;
    this.#deps = deps;
  }

  async getConnection(connectionId: string): Promise<ConnectionRecord | null> {
    const { rows } = await this.#pool.query<ConnectionRow>(q.getConnection, [connectionId]);
    return rows[0] ? toConnectionRecord(rows[0]) : null;
  }

  async listConnections(): Promise<ConnectionRecord[]> {
    const { rows } = await this.#pool.query<ConnectionRow>(q.listConnections);
    return rows.map(toConnectionRecord);
  }

  async saveCredentials(input: SaveCredentialsInput): Promise<SaveCredentialsResult> {
    return this.#deps.transaction(async (client) => {
      const currentVersion = await this.#credentialsVersion(client, input.connectionId);
      if (input.expectedVersion !== undefined && input.expectedVersion !== currentVersion)
        return { saved: false, version: currentVersion };
      const { rows } = await client.query<{ credentials_version: number }>(q.saveCredentials, [
        input.connectionId,
        input.sealedCredentials,
        input.expiresAt,
        input.expectedVersion ?? null,
        input.now,
        input.restoresAccess,
      ]);
      const saved = rows[0];
      if (!saved) return { saved: false, version: await this.#credentialsVersion(client, input.connectionId) };
      const resumedRuns = input.restoresAccess
        ? await resumePausedRunsOnPostgres(client, input.connectionId, input.now)
        : 0;
      return { saved: true, version: saved.credentials_version, resumedRuns };
    });
  }

  async #credentialsVersion(client: Client, connectionId: string): Promise<number> {
    const { rows } = await client.query<{ credentials_version: number }>(q.credentialsVersion, [connectionId]);
    return rows[0]?.credentials_version ?? 0;
  }

  async markAuthFailed(connectionId: string, reason: string, now: number, expectedVersion?: number): Promise<boolean> {
    const { rowCount } = await this.#pool.query(q.markAuthFailed, [connectionId, reason, now, expectedVersion ?? null]);
    return rowCount === 1;
  }

  /**
   * The in-process lock queues this worker's callers, so they wait without holding a connection each; the
   * advisory lock then serialises the workers. It is held on a connection outside the pool: `fn` needs pool
   * connections for its own reads and writes, and lock holders of many connections at once must not be
   * able to take the whole pool and wait for it forever.
   */
  withRefreshLock<T>(connectionId: string, fn: () => Promise<T>): Promise<T> {
    return this.#refreshLocks.run(connectionId, async () => {
      const client = this.#deps.openClient();
      // A broken lock connection surfaces through its queries; an unhandled 'error' event would end the process.
      client.on("error", () => {});
      await client.connect();
      try {
        await client.query("BEGIN");
        await client.query(q.takeRefreshLock, [connectionId]);
        let result: T;
        try {
          result = await fn();
        } catch (error) {
          await client.query("ROLLBACK").catch(() => {});
          throw error;
        }
        // The transaction wrote nothing, so a failed COMMIT loses nothing: ending the connection frees the lock.
        await client.query("COMMIT").catch(() => {});
        return result;
      } finally {
        await client.end().catch(() => {});
      }
    });
  }

  async claimTokenRefresh(input: TokenRefreshClaim): Promise<boolean> {
    const { connectionId, claimant, until, expectedVersion, now } = input;
    if (expectedVersion === 0) await this.#pool.query(q.ensureConnection, [connectionId, now]);
    const { rowCount } = await this.#pool.query(q.claimTokenRefresh, [
      connectionId,
      claimant,
      until,
      expectedVersion,
      now,
    ]);
    return rowCount === 1;
  }

  async releaseTokenRefresh(connectionId: string, claimant: string): Promise<void> {
    await this.#pool.query(q.releaseTokenRefresh, [connectionId, claimant]);
  }

  async listSealedSecrets(): Promise<SealedSecret[]> {
    const { rows } = await this.#pool.query<SealedSecret>(q.listSealedSecrets);
    return rows;
  }

  async resealSecret(kind: SealedSecret["kind"], id: string, previous: string, next: string): Promise<boolean> {
    const text = kind === "credentials" ? q.resealCredentials : q.resealVerifier;
    const { rowCount } = await this.#pool.query(text, [id, previous, next]);
    return rowCount === 1;
  }

  async takeRateLimitToken(input: TakeRateLimitTokenInput): Promise<RateLimitGrant> {
    return this.#deps.transaction(async (client) => {
      const { connectionId, burst, now } = input;
      let row = (await client.query<RateLimitRow>(q.lockBucket, [connectionId])).rows[0];
      if (!row) {
        await client.query(q.ensureBucket, [connectionId, burst, now]);
        row = (await client.query<RateLimitRow>(q.lockBucket, [connectionId])).rows[0] as RateLimitRow;
      }
      const { tokens, refilledAt, grant } = takeFromBucket(toRateLimitState(row), input);
      await client.query(q.storeBucket, [connectionId, tokens, refilledAt]);
      return grant;
    });
  }

  async recordRateLimitSignal(signal: RateLimitSignal): Promise<void> {
    await this.#pool.query(q.recordRateLimitSignal, [
      signal.connectionId,
      signal.now,
      signal.pausedUntil ?? null,
      signal.slowRatePerSecond ?? null,
      signal.slowUntil ?? null,
    ]);
  }

  async getRateLimitState(connectionId: string): Promise<RateLimitState | null> {
    const { rows } = await this.#pool.query<RateLimitRow>(q.getRateLimit, [connectionId]);
    return rows[0] ? toRateLimitState(rows[0]) : null;
  }

  async getCircuit(connectionId: string): Promise<CircuitState> {
    const { rows } = await this.#pool.query<CircuitRow>(q.getCircuit, [connectionId]);
    return rows[0] ? toCircuitState(rows[0]) : closedCircuit(connectionId);
  }

  async recordCircuitFailure(input: RecordCircuitFailureInput): Promise<CircuitState> {
    return this.#deps.transaction(async (client) => {
      let row = (await client.query<CircuitRow>(q.lockCircuit, [input.connectionId])).rows[0];
      if (!row) {
        await client.query(q.ensureCircuit, [input.connectionId]);
        row = (await client.query<CircuitRow>(q.lockCircuit, [input.connectionId])).rows[0] as CircuitRow;
      }
      const next = circuitAfterFailure(toCircuitState(row), row.probe_id, input);
      await client.query(q.storeCircuit, [
        next.connectionId,
        next.status,
        next.consecutiveFailures,
        next.openedAt,
        next.reopenAt,
        next.probeUntil,
      ]);
      return next;
    });
  }

  async recordCircuitSuccess(
    connectionId: string,
    now: number,
    probeId?: string,
  ): Promise<{ closed: boolean; wokenRuns: number }> {
    // Nearly every success finds a healthy circuit: that costs one read, not a transaction.
    const unchanged = { closed: false, wokenRuns: 0 };
    const counts = (row: CircuitRow | undefined): row is CircuitRow =>
      row !== undefined && successChangesCircuit(toCircuitState(row), row.probe_id, probeId);
    if (!counts((await this.#pool.query<CircuitRow>(q.getCircuit, [connectionId])).rows[0])) return unchanged;
    return this.#deps.transaction(async (client) => {
      const row = (await client.query<CircuitRow>(q.lockCircuit, [connectionId])).rows[0];
      if (!counts(row)) return unchanged;
      await client.query(q.closeCircuit, [connectionId]);
      if (row.status === "closed") return unchanged;
      return { closed: true, wokenRuns: await wakeWaitingRunsOnPostgres(client, connectionId, now) };
    });
  }

  async claimCircuitProbe(connectionId: string, now: number, probeLeaseMs: number, probeId: string): Promise<boolean> {
    const claim = [connectionId, now, now + probeLeaseMs, probeId];
    const { rowCount } = await this.#pool.query(q.claimCircuitProbe, claim);
    return rowCount === 1;
  }

  async recordIncident(incident: ConnectionIncident): Promise<void> {
    await this.#pool.query(q.insertIncident, [
      incident.id,
      incident.connectionId,
      incident.kind,
      incident.detail,
      incident.at,
    ]);
  }

  async listIncidents(filter: { connectionId?: string; limit?: number } = {}): Promise<ConnectionIncident[]> {
    const limit = filter.limit ?? 100;
    const { rows } = filter.connectionId
      ? await this.#pool.query<IncidentRow>(q.incidentsOfConnection, [filter.connectionId, limit])
      : await this.#pool.query<IncidentRow>(q.recentIncidents, [limit]);
    return rows.map(toIncident);
  }

  async appendAudit(records: AuditRecord[]): Promise<void> {
    await writeAuditRecords(this.#pool, records);
  }

  async listAudit(filter: AuditFilter = {}): Promise<AuditRecord[]> {
    const limit = filter.limit ?? 100;
    let result: pg.QueryResult<AuditRow>;
    if (filter.runId)
      result = await this.#pool.query<AuditRow>(q.auditOfRun, [filter.runId, filter.connectionId ?? null, limit]);
    else if (filter.connectionId)
      result = await this.#pool.query<AuditRow>(q.auditOfConnection, [filter.connectionId, limit]);
    else result = await this.#pool.query<AuditRow>(q.recentAudit, [limit]);
    return result.rows.map(toAuditRecord);
  }

  async savePendingAuthorization(pending: PendingAuthorization): Promise<void> {
    await this.#pool.query(q.insertPendingAuthorization, [
      pending.state,
      pending.connectionId,
      pending.sealedVerifier,
      pending.returnTo,
      pending.expiresAt,
    ]);
  }

  async takePendingAuthorization(state: string, now: number): Promise<PendingAuthorization | null> {
    const { rows } = await this.#pool.query<PendingAuthorizationRow>(q.takePendingAuthorization, [state, now]);
    const row = rows.find((r) => r.state === state && r.expires_at > now);
    return row ? toPendingAuthorization(row) : null;
  }
}
