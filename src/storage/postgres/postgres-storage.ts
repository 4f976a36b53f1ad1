import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import { AlertQueries } from "../alert-queries.ts";
import type { AlertStore } from "../alert-store.ts";
import { BulkActionQueries } from "../bulk-action-queries.ts";
import type { BulkActionStore } from "../bulk-action-store.ts";
import type { ConnectionStore } from "../connection-store.ts";
import type {
  AcceptResult,
  BackupSummary,
  ClaimedRun,
  ClaimInput,
  EventFilter,
  EventRecord,
  EventSelection,
  EventStatus,
  NewEvent,
  NewRun,
  PollClaim,
  PollLease,
  PollState,
  RenewedLease,
  ReplayCandidate,
  ReplayCursor,
  ReplaySelection,
  Requalification,
  RunFilter,
  RunHistoryEntry,
  RunRecord,
  RunStatus,
  RunTransition,
  StepRecord,
  Storage,
} from "../contract.ts";
import { terminalStatuses } from "../contract.ts";
import type { DriftStore } from "../drift-store.ts";
import { isUpToDate, newestMigration, runMigrations } from "../migrations/migrate.ts";
import { OperationalWebhookQueries } from "../operational-webhook-queries.ts";
import type { OperationalWebhookStore } from "../operational-webhook-store.ts";
import { ReadApiQueries } from "../read-api-queries.ts";
import type { ReadApiStore } from "../read-api-store.ts";
import { ReadQueries } from "../read-queries.ts";
import { ReconcileQueries } from "../reconcile-queries.ts";
import type { ReconcileStore } from "../reconcile-store.ts";
import { type ReplayRow, replayableRunError, replayedRun, stillSelected } from "../replay-rules.ts";
import type { RetentionStore } from "../retention-store.ts";
import {
  type ClaimedEventRow,
  eventStatus,
  groupJournal,
  type RenewedLeaseRow,
  type RunRow,
  runColumns,
  type StepRow,
  toRenewedLease,
} from "../rows.ts";
import { type HistoryInput, noHistoryFields } from "../run-history-input.ts";
import type { TagStore } from "../tag-store.ts";
import { writeAuditCarriedBy } from "./postgres-audit-log.ts";
import { PostgresConnections } from "./postgres-connections.ts";
import { PostgresDrift } from "./postgres-drift.ts";
import { PostgresOperatorAccess } from "./postgres-operator-access.ts";
import { PostgresRetention } from "./postgres-retention.ts";
import { PostgresSessions } from "./postgres-sessions.ts";
import { PostgresTags } from "./postgres-tags.ts";
import { postgresSql as q } from "./postgres-transitions.ts";

export interface PostgresStorageOptions {
  connectionString: string;
  /** PostgreSQL schema holding Tenon's tables; created if missing. Default "tenon". */
  schema?: string;
  /** Pool size. Default 10. */
  maxConnections?: number;
}

const int8Oid = 20;
/** How long a readiness check waits to connect, then for its answer: a probe must not hang on a silent server. */
const readyTimeoutMs = 2000;
/** Deadlock and serialization failures are safe to retry: the transaction was rolled back whole. */
const retryableSqlStates = new Set(["40P01", "40001"]);

type Client = pg.PoolClient;
type FailedAttempt = Extract<RunTransition, { kind: "retryRun" | "finishRunWithError" }>;
type ReplayedRow = ReplayRow;

async function recordHistory(client: Client, input: HistoryInput): Promise<void> {
  const e = { ...noHistoryFields, ...input };
  await client.query(q.recordHistory, [
    e.runId,
    e.kind,
    e.stepName,
    e.attempt,
    e.connectionId,
    e.startedAt,
    e.at,
    e.until,
    e.detail,
    e.actor,
  ]);
}

/**
 * PostgreSQL backend for many workers: claims with FOR UPDATE SKIP LOCKED,
 * wake-ups through LISTEN/NOTIFY, batched transitions through unnest() arrays.
 */
export class PostgresStorage implements Storage {
  readonly dialect = "postgres" as const;
  readonly #pool: pg.Pool;
  readonly #kysely: Kysely<unknown>;
  readonly #reads: ReadQueries;
  readonly readApi: ReadApiStore;
  readonly alerts: AlertStore;
  readonly operationalWebhooks: OperationalWebhookStore;
  readonly reconcile: ReconcileStore;
  readonly bulkActions: BulkActionStore;
  readonly #schema: string;
  readonly #options: PostgresStorageOptions;
  readonly #listeners = new Set<() => void>();
  readonly #connections: PostgresConnections;
  readonly #tags: PostgresTags;
  readonly #retention: PostgresRetention;
  readonly #drift: PostgresDrift;
  readonly operatorAccess: PostgresOperatorAccess;
  readonly sessions: PostgresSessions;
  #listenClient: pg.Client | undefined;
  #closed = false;

  constructor(options: PostgresStorageOptions) {
    this.#options = options;
    this.#schema = options.schema ?? "tenon";
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(this.#schema)) {
      throw new Error(`PostgreSQL schema name "${this.#schema}" must be lower-case letters, digits and underscores`);
    }
    this.#pool = new pg.Pool({ ...this.#clientConfig(), max: options.maxConnections ?? 10 });
    // An idle client that loses its connection must not crash the process; the next query reconnects.
    this.#pool.on("error", () => {});
    this.#kysely = new Kysely({ dialect: new PostgresDialect({ pool: this.#pool }) });
    this.#reads = new ReadQueries(this.#kysely);
    this.readApi = new ReadApiQueries(this.#kysely);
    this.alerts = new AlertQueries(this.#kysely);
    this.operationalWebhooks = new OperationalWebhookQueries(this.#kysely);
    this.reconcile = new ReconcileQueries(this.#kysely);
    this.bulkActions = new BulkActionQueries(this.#kysely);
    this.#connections = new PostgresConnections({
      pool: this.#pool,
      transaction: (work) => this.#transaction(work),
      openClient: () => new pg.Client(this.#clientConfig()),
    });
    this.#tags = new PostgresTags(this.#pool);
    this.#retention = new PostgresRetention({ pool: this.#pool, transaction: (work) => this.#transaction(work) });
    this.operatorAccess = new PostgresOperatorAccess(this.#pool);
    this.sessions = new PostgresSessions(this.#pool);
    this.#drift = new PostgresDrift(this.#pool);
  }

  get drift(): DriftStore {
    return this.#drift;
  }

  get connections(): ConnectionStore {
    return this.#connections;
  }

  get tags(): TagStore {
    return this.#tags;
  }

  get retention(): RetentionStore {
    return this.#retention;
  }

  #clientConfig(): pg.ClientConfig {
    return {
      connectionString: this.#options.connectionString,
      options: `-c search_path=${this.#schema}`,
      types: {
        getTypeParser: ((oid: number, format?: string) =>
          oid === int8Oid ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format as "text")) as never,
      },
    };
  }

  async migrate(): Promise<void> {
    // Up to date (every restart but the first after an upgrade): one query, not the schema's DDL and lock.
    if (!(await isUpToDate(this.#kysely))) {
      try {
        await this.#pool.query(`CREATE SCHEMA IF NOT EXISTS ${this.#schema}`);
      } catch (error) {
        // Two workers creating the schema at the same moment: the loser sees a unique violation; the schema exists.
        if ((error as { code?: string }).code !== "23505") throw error;
      }
      await runMigrations(this.#kysely, "postgres");
    }
    await this.#listen();
  }

  async #listen(): Promise<void> {
    if (this.#listenClient || this.#closed) return;
    const client = new pg.Client(this.#clientConfig());
    client.on("notification", () => {
      for (const listener of this.#listeners) listener();
    });
    client.on("error", () => {
      // The connection broke: drop it and listen again shortly; polling covers the gap.
      this.#listenClient = undefined;
      client.end().catch(() => {});
      if (!this.#closed) setTimeout(() => this.#listen().catch(() => {}), 1000).unref();
    });
    await client.connect();
    await client.query("LISTEN tenon_runs");
    this.#listenClient = client;
  }

  async checkReady(): Promise<void> {
    // Its own connection, not the pool's: the pool waits without limit for a free client or a connect, and
    // "can a worker reach the database now" is what a fresh connection answers.
    const client = new pg.Client({
      ...this.#clientConfig(),
      connectionTimeoutMillis: readyTimeoutMs,
      query_timeout: readyTimeoutMs,
    });
    client.on("error", () => {});
    try {
      await client.connect();
      const applied = await client.query("SELECT 1 FROM migrations WHERE name = $1", [newestMigration]);
      if (applied.rowCount === 0) throw new MigrationsNotApplied();
    } catch (error) {
      if (error instanceof MigrationsNotApplied || (error as { code?: string }).code === "42P01") {
        throw new Error(`migration ${newestMigration} is not applied in schema ${this.#schema}; run \`tenon migrate\``);
      }
      throw new Error(`PostgreSQL is unreachable: ${(error as Error).message}`, { cause: error });
    } finally {
      // Not awaited: ending a connection the server never answered would wait on that same silence.
      client.end().catch(() => {});
    }
  }

  async backupTo(): Promise<BackupSummary> {
    throw new Error("a PostgreSQL database is backed up with pg_dump, not by Tenon (see docs/deployment.md)");
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#listenClient?.end().catch(() => {});
    this.#listenClient = undefined;
    await this.#kysely.destroy();
  }

  async #transaction<T>(work: (client: Client) => Promise<T>): Promise<T> {
    return this.#withRetry(async () => {
      const client = await this.#pool.connect();
      try {
        await client.query("BEGIN");
        const result = await work(client);
        await client.query("COMMIT");
        return result;
      } catch (error) {
        await client.query("ROLLBACK").catch(() => {});
        throw error;
      } finally {
        client.release();
      }
    });
  }

  /** Runs a statement or transaction again when PostgreSQL aborted it as a deadlock victim or serialization failure. */
  async #withRetry<T>(work: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await work();
      } catch (error) {
        if (attempt >= 5 || !retryableSqlStates.has((error as { code?: string }).code ?? "")) throw error;
      }
    }
  }

  async acceptEvents(events: NewEvent[]): Promise<AcceptResult[]> {
    return this.#transaction((client) => this.#acceptEvents(client, events));
  }

  async #acceptEvents(client: Client, batch: NewEvent[]): Promise<AcceptResult[]> {
    // Two events of one batch with the same provider id: the first wins, the second is its duplicate.
    const firstByKey = new Map<string, NewEvent>();
    const unique: NewEvent[] = [];
    for (const event of batch) {
      const key = event.dedupKey === null ? null : `${event.source}\u0000${event.dedupKey}`;
      if (key !== null && firstByKey.has(key)) continue;
      if (key !== null) firstByKey.set(key, event);
      unique.push(event);
    }
    const inserted = await client.query<{ id: string }>({
      name: "tenon_insert_events",
      text: q.insertEvents,
      values: [
        unique.map((e) => e.id),
        unique.map((e) => e.source),
        unique.map((e) => e.type),
        unique.map((e) => e.dedupKey),
        unique.map((e) => e.payloadJson),
        unique.map(eventStatus),
        unique.map((e) => e.quarantineReason ?? null),
        unique.map((e) => e.fingerprint ?? null),
        unique.map((e) => e.receivedAt),
        unique.map((e) => e.traceContext ?? null),
      ],
    });
    const insertedIds = new Set(inserted.rows.map((r) => r.id));
    const fresh = unique.filter((e) => insertedIds.has(e.id) && e.quarantineReason === undefined);
    const queued = await this.#insertRuns(client, fresh);
    if (queued) await client.query(q.notifyRunsAvailable);

    const existingByKey = await this.#existingEvents(
      client,
      batch.filter((e) => !insertedIds.has(e.id)),
    );
    return batch.map((event): AcceptResult => {
      if (insertedIds.has(event.id))
        return { duplicate: false, eventId: event.id, runIds: event.runs.map((r) => r.id) };
      const existing = existingByKey.get(`${event.source}\u0000${event.dedupKey}`);
      if (!existing) throw new Error(`event ${event.id} was neither stored nor found as a duplicate`);
      return { duplicate: true, eventId: existing.eventId, runIds: existing.runIds, fingerprint: existing.fingerprint };
    });
  }

  async #existingEvents(client: Client, duplicates: NewEvent[]) {
    const found = new Map<string, { eventId: string; runIds: string[]; fingerprint: string | null }>();
    if (duplicates.length === 0) return found;
    const events = await client.query<{ id: string; source: string; dedup_key: string; fingerprint: string | null }>(
      q.findEventsByDedupKeys,
      [duplicates.map((e) => e.source), duplicates.map((e) => e.dedupKey)],
    );
    const runs = await client.query<{ id: string; event_id: string }>(q.runIdsOfEvents, [events.rows.map((e) => e.id)]);
    for (const event of events.rows) {
      const runIds = runs.rows.filter((r) => r.event_id === event.id).map((r) => r.id);
      found.set(`${event.source}\u0000${event.dedup_key}`, {
        eventId: event.id,
        runIds,
        fingerprint: event.fingerprint,
      });
    }
    return found;
  }

  /** Returns whether any run became claimable (so workers should be woken). */
  async #insertRuns(client: Client, events: { id: string; receivedAt: number; runs: NewRun[] }[]): Promise<boolean> {
    const plain = events.flatMap((e) => e.runs.filter((r) => r.concurrencyKey === null).map((r) => ({ e, r })));
    if (plain.length > 0) {
      await client.query({
        name: "tenon_insert_queued_runs",
        text: q.insertQueuedRuns,
        values: [
          plain.map((x) => x.r.id),
          plain.map((x) => x.r.integrationId),
          plain.map((x) => x.e.id),
          plain.map((x) => x.e.receivedAt),
        ],
      });
    }
    let anyQueued = plain.length > 0;
    for (const event of events) {
      for (const run of event.runs) {
        if (run.concurrencyKey === null) continue;
        const status = await this.#statusForNewRun(client, run.concurrencyKey, run.concurrencyLimit);
        anyQueued ||= status === "queued";
        await client.query({
          name: "tenon_insert_run",
          text: q.insertRun,
          values: [
            run.id,
            run.integrationId,
            event.id,
            status,
            run.concurrencyKey,
            run.concurrencyLimit,
            event.receivedAt,
          ],
        });
      }
    }
    await this.#tags.insertRunTags(client, events);
    return anyQueued;
  }

  async #statusForNewRun(client: Client, key: string | null, limit: number | null): Promise<RunStatus> {
    if (key === null) return "queued";
    const { rows } = await client.query<{ active: number }>({
      name: "tenon_take_slot",
      text: q.takeConcurrencySlot,
      values: [key],
    });
    return (rows[0]?.active ?? 1) <= (limit ?? 1) ? "queued" : "blocked";
  }

  async addRuns(eventId: string, runs: NewRun[], now: number): Promise<void> {
    await this.#transaction(async (client) => {
      if (await this.#insertRuns(client, [{ id: eventId, receivedAt: now, runs }]))
        await client.query(q.notifyRunsAvailable);
      if (runs.length > 0) await client.query("UPDATE events SET status = 'accepted' WHERE id = $1", [eventId]);
    });
  }

  async claimDueRuns(input: ClaimInput & { limit: number }): Promise<ClaimedRun[]> {
    return this.#claim("tenon_claim", q.claimDueRuns, input);
  }

  async claimSuspectRun(input: ClaimInput & { maxCrashes: number }): Promise<ClaimedRun | null> {
    return (await this.#claim("tenon_claim_suspect", q.claimSuspectRun, { ...input, limit: 1 }))[0] ?? null;
  }

  async hasDueSuspect(now: number, maxCrashes: number): Promise<boolean> {
    const { rows } = await this.#pool.query<{ due: boolean }>({
      name: "tenon_has_due_suspect",
      text: q.hasDueSuspect,
      values: [now, maxCrashes],
    });
    return rows[0]?.due === true;
  }

  async #claim(name: string, text: string, input: ClaimInput & { limit: number }): Promise<ClaimedRun[]> {
    const { leaseToken, limit, now, leaseUntil } = input;
    const claimed = await this.#pool.query<{
      seq: number;
      id: string;
      integration_id: string;
      event_id: string;
      failures: number;
      crashes: number;
      last_error: string | null;
      created_at: number;
      available_at: number;
      claims: number;
    }>({
      name,
      text,
      values: [now, limit, leaseToken, leaseUntil, input.maxCrashes ?? 2 ** 31 - 1, input.claimedBy ?? null],
    });
    const rows = claimed.rows.sort((a, b) => a.seq - b.seq);
    if (rows.length === 0) return [];
    const [events, steps] = await Promise.all([
      this.#pool.query<ClaimedEventRow>({
        name: "tenon_events_by_ids",
        text: q.eventsByIds,
        values: [[...new Set(rows.map((r) => r.event_id))]],
      }),
      this.#pool.query<StepRow>({ name: "tenon_journal", text: q.journalOfRuns, values: [rows.map((r) => r.id)] }),
    ]);
    const eventsById = new Map(events.rows.map((e) => [e.id, e]));
    const journals = groupJournal(steps.rows);
    return rows.map((row) => {
      const event = eventsById.get(row.event_id);
      if (!event) throw new Error(`run ${row.id} refers to event ${row.event_id}, which is missing`);
      return {
        id: row.id,
        integrationId: row.integration_id,
        eventId: row.event_id,
        leaseToken,
        failures: row.failures,
        crashes: row.crashes,
        lastError: row.last_error,
        createdAt: row.created_at,
        availableAt: row.available_at,
        firstClaim: row.claims === 1,
        event: {
          id: event.id,
          source: event.source,
          type: event.type,
          payloadJson: event.payload,
          receivedAt: event.received_at,
          traceContext: event.trace_context,
        },
        journal: journals.get(row.id) ?? [],
      };
    });
  }

  async applyTransitions(transitions: RunTransition[]): Promise<boolean[]> {
    return this.#transaction(async (client) => {
      const outcomes = new Array<boolean>(transitions.length).fill(false);
      const steps: { index: number; t: Extract<RunTransition, { kind: "recordStep" }> }[] = [];
      const completions: { index: number; t: Extract<RunTransition, { kind: "completeRun" }> }[] = [];
      const freedKeys: string[] = [];
      const now = transitions[0]?.now ?? Date.now();
      // The exchanges of the attempts these transitions end: as durable as the transitions (held-audit.ts).
      await writeAuditCarriedBy(client, transitions);
      for (const [index, t] of transitions.entries()) {
        if (t.kind === "recordStep") steps.push({ index, t });
        else if (t.kind === "completeRun") completions.push({ index, t });
        else outcomes[index] = await this.#applyOne(client, t, freedKeys);
      }
      if (steps.length > 0) {
        const { rows } = await client.query<{ run_id: string; lease_token: string }>({
          name: "tenon_record_steps",
          text: q.recordSteps,
          values: [
            steps.map((s) => s.t.runId),
            steps.map((s) => s.t.leaseToken),
            steps.map((s) => s.t.name),
            steps.map((s) => s.t.outputJson),
            steps.map((s) => s.t.now),
            steps.map((s) => s.t.startedAt),
          ],
        });
        const written = new Set(rows.map((r) => `${r.run_id}\u0000${r.lease_token}`));
        for (const s of steps) outcomes[s.index] = written.has(`${s.t.runId}\u0000${s.t.leaseToken}`);
      }
      if (completions.length > 0) {
        const { rows } = await client.query<{ id: string; lease_token: string; concurrency_key: string | null }>({
          name: "tenon_complete_runs",
          text: q.completeRuns,
          values: [
            completions.map((c) => c.t.runId),
            completions.map((c) => c.t.leaseToken),
            completions.map((c) => c.t.outputJson),
            completions.map((c) => c.t.now),
          ],
        });
        const done = new Set(rows.map((r) => `${r.id}\u0000${r.lease_token}`));
        for (const c of completions) outcomes[c.index] = done.has(`${c.t.runId}\u0000${c.t.leaseToken}`);
        for (const row of rows) if (row.concurrency_key !== null) freedKeys.push(row.concurrency_key);
      }
      // Keys in sorted order, so two transactions freeing the same keys lock them in the same order.
      let promoted = false;
      for (const key of freedKeys.sort()) promoted = (await this.#releaseSlot(client, key, now)) || promoted;
      if (promoted) await client.query(q.notifyRunsAvailable);
      return outcomes;
    });
  }

  async #applyOne(
    client: Client,
    t: Exclude<RunTransition, { kind: "recordStep" | "completeRun" }>,
    freedKeys: string[],
  ): Promise<boolean> {
    switch (t.kind) {
      case "retryRun": {
        const runFailure = t.stepFailure ? 0 : 1;
        const { rowCount } = await client.query(q.retryRun, [
          t.availableAt,
          t.error,
          runFailure,
          t.now,
          t.runId,
          t.leaseToken,
        ]);
        if (rowCount === 1) await this.#recordFailedAttempt(client, t, "retry");
        return rowCount === 1;
      }
      case "finishRunWithError": {
        const runFailure = t.stepFailure ? 0 : 1;
        const { rows } = await client.query<{ concurrency_key: string | null }>(q.finishRunWithError, [
          t.status,
          t.error,
          runFailure,
          t.now,
          t.runId,
          t.leaseToken,
        ]);
        const row = rows[0];
        if (!row) return false;
        await this.#recordFailedAttempt(client, t, t.status);
        if (row.concurrency_key !== null) freedKeys.push(row.concurrency_key);
        return true;
      }
      case "sleepRun": {
        const { rowCount } = await client.query(q.sleepRun, [t.wakeAt, t.now, t.runId, t.leaseToken]);
        if (rowCount !== 1) return false;
        await client.query(q.recordSleep, [t.runId, t.name, JSON.stringify({ sleepUntil: t.wakeAt }), t.now]);
        await recordHistory(client, { runId: t.runId, kind: "sleep", stepName: t.name, at: t.now, until: t.wakeAt });
        return true;
      }
      case "releaseRun":
        return this.#requeue(client, t);
      case "interruptRun": {
        const { rowCount } = await client.query(q.interruptRun, [t.now, t.reason, t.runId, t.leaseToken]);
        if (rowCount === 1) await client.query(q.notifyRunsAvailable);
        return rowCount === 1;
      }
      case "waitRun": {
        const { rowCount } = await client.query(q.waitRun, [
          t.availableAt,
          t.connectionId,
          t.reason,
          t.now,
          t.runId,
          t.leaseToken,
        ]);
        if (rowCount !== 1) return false;
        const { runId, connectionId, now: at, availableAt: until, reason: detail } = t;
        await recordHistory(client, { runId, kind: "wait", connectionId, at, until, detail });
        return true;
      }
      case "pauseRun": {
        const { rows } = await client.query<{ status: string }>(q.lockConnectionStatus, [t.connectionId]);
        // New credentials were saved since this attempt was rejected: nothing would resume a paused run.
        if (rows[0]?.status !== "auth_failed") return this.#requeue(client, t);
        const { rowCount } = await client.query(q.pauseRun, [t.connectionId, t.reason, t.now, t.runId, t.leaseToken]);
        if (rowCount !== 1) return false;
        const { runId, connectionId, now: at, reason: detail } = t;
        await recordHistory(client, { runId, kind: "pause", connectionId, at, detail });
        return true;
      }
    }
  }

  /** The failed attempt, in the step's journal row (its latest error) and in the run's history (every error). */
  async #recordFailedAttempt(client: Client, t: FailedAttempt, outcome: "retry" | "dead" | "failed"): Promise<void> {
    const stepName = t.stepFailure?.name ?? null;
    if (t.stepFailure) {
      const { name, error } = t.stepFailure;
      await client.query(q.recordStepFailure, [t.runId, name, error, t.attemptStartedAt, t.now]);
    }
    const detail = t.stepFailure?.error ?? t.error;
    const { runId, attempt, attemptStartedAt: startedAt, now: at } = t;
    const until = t.kind === "retryRun" ? t.availableAt : null;
    await recordHistory(client, { runId, kind: outcome, stepName, attempt, startedAt, at, until, detail });
  }

  async #requeue(client: Client, t: { runId: string; leaseToken: string; now: number }): Promise<boolean> {
    const { rowCount } = await client.query(q.releaseRun, [t.now, t.runId, t.leaseToken]);
    if (rowCount === 1) await client.query(q.notifyRunsAvailable);
    return rowCount === 1;
  }

  async #releaseSlot(client: Client, key: string, now: number): Promise<boolean> {
    const { rows } = await client.query<{ active: number }>(q.releaseConcurrencySlot, [key]);
    if (rows[0] && rows[0].active <= 0) await client.query(q.forgetIdleConcurrencyKey, [key]);
    const promoted = await client.query(q.promoteOldestBlocked, [now, key]);
    return promoted.rowCount === 1;
  }

  async extendLeases(leaseTokens: string[], leaseUntil: number): Promise<RenewedLease[]> {
    if (leaseTokens.length === 0) return [];
    const { rows } = await this.#withRetry(() =>
      this.#pool.query<RenewedLeaseRow>({
        name: "tenon_extend_leases",
        text: q.extendLeases,
        values: [leaseUntil, leaseTokens],
      }),
    );
    return rows.map(toRenewedLease);
  }

  async expireLeases(now: number): Promise<number> {
    const { rowCount } = await this.#withRetry(() => this.#pool.query(q.expireLeases, [now]));
    if ((rowCount ?? 0) > 0) await this.#pool.query(q.notifyRunsAvailable);
    return rowCount ?? 0;
  }

  /** Many workers share a PostgreSQL database: a dead worker's runs come back when their leases expire. */
  async beginWorkerSession(): Promise<number> {
    return 0;
  }

  async endWorkerSession(): Promise<void> {}

  async nextDueAt(): Promise<number | null> {
    const { rows } = await this.#pool.query<{ at: number | null }>({ name: "tenon_next_due", text: q.nextDueAt });
    return rows[0]?.at ?? null;
  }

  async replayRun(runId: string, now: number, actor?: string): Promise<RunRecord> {
    return this.#transaction(async (client) => {
      const { rows } = await client.query<RunRow & { concurrency_limit: number | null }>(
        `SELECT ${runColumns}, concurrency_limit FROM runs WHERE id = $1 FOR UPDATE`,
        [runId],
      );
      const run = rows[0];
      const problem = replayableRunError(runId, run?.status);
      if (problem || !run) throw problem;
      const status = await this.#replay(client, run, now, actor);
      if (status === "queued") await client.query(q.notifyRunsAvailable);
      return replayedRun(run, status, now);
    });
  }

  async replayRunsIn(
    selection: Pick<ReplaySelection, "status" | "finishedBy">,
    runIds: string[],
    now: number,
    actor?: string,
  ): Promise<string[]> {
    // Ids in sorted order, so two replays of overlapping pages lock the rows in the same order.
    const sorted = [...runIds].sort();
    return this.#transaction(async (client) => {
      const replayed: string[] = [];
      let queued = false;
      for (const runId of sorted) {
        const { rows } = await client.query<ReplayedRow>(q.runToReplay, [runId]);
        const run = rows[0];
        if (!run || !stillSelected(run, selection)) continue;
        queued = (await this.#replay(client, run, now, actor)) === "queued" || queued;
        replayed.push(runId);
      }
      if (queued) await client.query(q.notifyRunsAvailable);
      return replayed;
    });
  }

  /** Requeues the run, locked by the caller's transaction, and returns its new status. */
  async #replay(client: Client, run: ReplayedRow, now: number, actor?: string): Promise<RunStatus> {
    const wasFinished = terminalStatuses.includes(run.status as RunStatus);
    const status = wasFinished
      ? await this.#statusForNewRun(client, run.concurrency_key, run.concurrency_limit)
      : "queued";
    await client.query(q.replayRun, [status, now, run.id]);
    await client.query(q.resetFailedSteps, [run.id]);
    // A success is the run row's own until a replay clears it: from then on the history keeps it.
    if (run.status === "succeeded" && run.finished_at !== null) {
      await recordHistory(client, { runId: run.id, kind: "succeeded", at: Number(run.finished_at) });
    }
    await recordHistory(client, { runId: run.id, kind: "replay", at: now, detail: run.status, actor: actor ?? null });
    return status;
  }

  countRunsToReplay(selection: ReplaySelection): Promise<number> {
    return this.#reads.countRunsToReplay(selection);
  }

  listRunsToReplay(
    selection: ReplaySelection,
    after: ReplayCursor | undefined,
    limit: number,
  ): Promise<ReplayCandidate[]> {
    return this.#reads.listRunsToReplay(selection, after, limit);
  }

  countEventsToReplay(selection: EventSelection): Promise<number> {
    return this.#reads.countEventsToReplay(selection);
  }

  listEventsToReplay(
    selection: EventSelection,
    after: { receivedAt: number; id: string } | null,
    limit: number,
  ): Promise<EventRecord[]> {
    return this.#reads.listEventsToReplay(selection, after, limit);
  }

  async requalifyEvent(
    eventId: string,
    outcome: Requalification,
    now: number,
    from: Exclude<EventStatus, "accepted">,
  ): Promise<boolean> {
    return this.#transaction(async (client) => {
      const { rowCount } = await client.query(q.eventInStatus, [eventId, from]);
      if (rowCount !== 1) return false;
      if ("quarantineReason" in outcome) {
        await client.query(q.requarantineEvent, [outcome.quarantineReason, eventId]);
        return true;
      }
      if (await this.#insertRuns(client, [{ id: eventId, receivedAt: now, runs: outcome.runs }]))
        await client.query(q.notifyRunsAvailable);
      const status = outcome.runs.length > 0 ? "accepted" : "unmatched";
      await client.query(q.requalifyEvent, [
        status,
        outcome.parsed?.type ?? null,
        outcome.parsed?.payloadJson ?? null,
        eventId,
      ]);
      return true;
    });
  }

  async fireScheduleTick(scheduleId: string, tickAt: number, event: NewEvent): Promise<boolean> {
    return this.#transaction(async (client) => {
      await client.query(q.ensureSchedule, [scheduleId]);
      const { rowCount } = await client.query(q.advanceSchedule, [tickAt, scheduleId]);
      if (rowCount !== 1) return false;
      await this.#acceptEvents(client, [event]);
      return true;
    });
  }

  async getScheduleLastTick(scheduleId: string): Promise<number | null> {
    const { rows } = await this.#pool.query<{ last_tick_at: number | null }>(q.scheduleLastTick, [scheduleId]);
    return rows[0]?.last_tick_at ?? null;
  }

  async claimPoll(input: PollLease & { leaseUntil: number }): Promise<PollClaim | null> {
    // Due from the moment a worker first sees it: how late it is counts from then (the poll-failing alert).
    await this.#pool.query(q.ensurePollSource, [input.pollId, input.now]);
    const { rows } = await this.#pool.query<{ cursor: string | null; consecutive_failures: number }>(q.claimPoll, [
      input.owner,
      input.leaseUntil,
      input.pollId,
      input.now,
    ]);
    const row = rows[0];
    return row ? { cursor: row.cursor, consecutiveFailures: row.consecutive_failures } : null;
  }

  async commitPoll(
    input: PollLease & {
      cursor: string | null;
      events: NewEvent[];
      nextPollAt: number;
      keepLease: boolean;
      leaseUntil: number;
    },
  ): Promise<AcceptResult[] | null> {
    const lostLease = Symbol("lost lease");
    try {
      return await this.#transaction(async (client) => {
        const results = await this.#acceptEvents(client, input.events);
        const fresh = results.filter((r) => !r.duplicate).length;
        const { rowCount } = await client.query(q.commitPoll, [
          input.cursor,
          input.nextPollAt,
          input.now,
          fresh,
          input.keepLease,
          input.leaseUntil,
          input.pollId,
          input.owner,
        ]);
        // Lost the lease (expired and taken, or reset by a backfill): throwing rolls the page's events back.
        if (rowCount !== 1) throw lostLease;
        return results;
      });
    } catch (error) {
      if (error === lostLease) return null;
      throw error;
    }
  }

  async failPoll(input: PollLease & { error: string; nextPollAt: number }): Promise<void> {
    await this.#pool.query(q.failPoll, [input.nextPollAt, input.error, input.now, input.pollId, input.owner]);
  }

  async resetPollCursor(pollId: string, cursor: string | null, now: number): Promise<void> {
    await this.#pool.query(q.resetPollCursor, [pollId, cursor, now]);
  }

  getPollState(pollId: string): Promise<PollState | null> {
    return this.#reads.getPollState(pollId);
  }

  getRun(runId: string): Promise<RunRecord | null> {
    return this.#reads.getRun(runId);
  }

  getEvent(eventId: string): Promise<EventRecord | null> {
    return this.#reads.getEvent(eventId);
  }

  listRuns(filter?: RunFilter): Promise<RunRecord[]> {
    return this.#reads.listRuns(filter);
  }

  listEvents(filter?: EventFilter): Promise<EventRecord[]> {
    return this.#reads.listEvents(filter);
  }

  countEventsByStatus(): Promise<Partial<Record<EventStatus, number>>> {
    return this.#reads.countEventsByStatus();
  }

  listSteps(runId: string): Promise<StepRecord[]> {
    return this.#reads.listSteps(runId);
  }

  listRunHistory(runId: string): Promise<RunHistoryEntry[]> {
    return this.#reads.listRunHistory(runId);
  }

  countRunsByStatus(filter?: { integrationId?: string }): Promise<Partial<Record<RunStatus, number>>> {
    return this.#reads.countRunsByStatus(filter);
  }

  onRunsAvailable(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Drops the schema and everything in it (tests). */
  async dropSchema(): Promise<void> {
    await this.#pool.query(`DROP SCHEMA IF EXISTS ${this.#schema} CASCADE`);
  }
}

class MigrationsNotApplied extends Error {}
