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
import type { DriftStore } from "../drift-store.ts";
import { isUpToDate, newestMigration, runMigrations } from "../migrations/migrate.ts";
import { OperationalWebhookQueries } from "../operational-webhook-queries.ts";
import type { OperationalWebhookStore } from "../operational-webhook-store.ts";
import { ReadApiQueries } from "../read-api-queries.ts";
import type { ReadApiStore } from "../read-api-store.ts";
import { ReadQueries } from "../read-queries.ts";
import { ReconcileQueries } from "../reconcile-queries.ts";
import type { ReconcileStore } from "../reconcile-store.ts";
import type { RetentionStore } from "../retention-store.ts";
import { eventStatus } from "../rows.ts";
import type { TagStore } from "../tag-store.ts";
import { addRunsOnPostgres } from "../transitions/add-runs.ts";
import { claimRunsOnPostgres } from "../transitions/claim-runs.ts";
import { completeRunsOnPostgres } from "../transitions/complete-run.ts";
import { enqueueRunsOnPostgres } from "../transitions/enqueue-runs.ts";
import { extendLeasesOnPostgres } from "../transitions/extend-leases.ts";
import { finishRunWithErrorOnPostgres } from "../transitions/finish-run-with-error.ts";
import { interruptRunOnPostgres } from "../transitions/interrupt-run.ts";
import { pauseRunOnPostgres } from "../transitions/pause-run.ts";
import { recordStepsOnPostgres } from "../transitions/record-step.ts";
import { releaseConcurrencySlotsOnPostgres } from "../transitions/release-concurrency-slot.ts";
import { releaseRunOnPostgres } from "../transitions/release-run.ts";
import { replayRunOnPostgres, replayRunsInOnPostgres } from "../transitions/replay-run.ts";
import { requalifyEventOnPostgres } from "../transitions/requalify-event.ts";
import { requeueExpiredLeasesOnPostgres } from "../transitions/requeue-abandoned-runs.ts";
import { retryRunOnPostgres } from "../transitions/retry-run.ts";
import { notifyRunsAvailable } from "../transitions/runs-available.ts";
import { sleepRunOnPostgres } from "../transitions/sleep-run.ts";
import { waitRunOnPostgres } from "../transitions/wait-run.ts";
import { writeAuditCarriedBy } from "./postgres-audit-log.ts";
import { PostgresConnections } from "./postgres-connections.ts";
import { PostgresDrift } from "./postgres-drift.ts";
import { PostgresOperatorAccess } from "./postgres-operator-access.ts";
import { PostgresRetention } from "./postgres-retention.ts";
import { PostgresSessions } from "./postgres-sessions.ts";
import { postgresSql as q } from "./postgres-statements.ts";
import { PostgresTags } from "./postgres-tags.ts";

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
    const queued = await enqueueRunsOnPostgres(client, this.#tags, fresh);
    if (queued) await client.query(notifyRunsAvailable.postgres);

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

  async addRuns(eventId: string, runs: NewRun[], now: number): Promise<void> {
    await this.#transaction((client) => addRunsOnPostgres(client, this.#tags, eventId, runs, now));
  }

  async claimDueRuns(input: ClaimInput & { limit: number }): Promise<ClaimedRun[]> {
    return claimRunsOnPostgres(this.#pool, "claimDueRuns", input);
  }

  async claimSuspectRun(input: ClaimInput & { maxCrashes: number }): Promise<ClaimedRun | null> {
    return (await claimRunsOnPostgres(this.#pool, "claimSuspectRun", { ...input, limit: 1 }))[0] ?? null;
  }

  async hasDueSuspect(now: number, maxCrashes: number): Promise<boolean> {
    const { rows } = await this.#pool.query<{ due: boolean }>({
      name: "tenon_has_due_suspect",
      text: q.hasDueSuspect,
      values: [now, maxCrashes],
    });
    return rows[0]?.due === true;
  }

  /**
   * One transaction for the batch: the step records of all its runs in one statement, their completions in
   * another, each other transition on its own, and the concurrency slots the batch freed released last, in key order.
   */
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
        else outcomes[index] = await applyOtherTransition(client, t, freedKeys);
      }
      if (steps.length > 0) {
        const written = await recordStepsOnPostgres(
          client,
          steps.map((s) => s.t),
        );
        for (const [i, s] of steps.entries()) outcomes[s.index] = written[i] === true;
      }
      if (completions.length > 0) {
        const done = await completeRunsOnPostgres(
          client,
          completions.map((c) => c.t),
          freedKeys,
        );
        for (const [i, c] of completions.entries()) outcomes[c.index] = done[i] === true;
      }
      await releaseConcurrencySlotsOnPostgres(client, freedKeys, now);
      return outcomes;
    });
  }

  async extendLeases(leaseTokens: string[], leaseUntil: number): Promise<RenewedLease[]> {
    return extendLeasesOnPostgres(this.#pool, leaseTokens, leaseUntil, (work) => this.#withRetry(work));
  }

  async expireLeases(now: number): Promise<number> {
    return requeueExpiredLeasesOnPostgres(this.#pool, now, (work) => this.#withRetry(work));
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
    return this.#transaction((client) => replayRunOnPostgres(client, runId, now, actor));
  }

  async replayRunsIn(
    selection: Pick<ReplaySelection, "status" | "finishedBy">,
    runIds: string[],
    now: number,
    actor?: string,
  ): Promise<string[]> {
    return this.#transaction((client) => replayRunsInOnPostgres(client, selection, runIds, now, actor));
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
    return this.#transaction((client) => requalifyEventOnPostgres(client, this.#tags, eventId, outcome, now, from));
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

/** A transition of a batch other than a step record or a completion, inside the batch's transaction. */
function applyOtherTransition(
  client: Client,
  t: Exclude<RunTransition, { kind: "recordStep" | "completeRun" }>,
  freedKeys: string[],
): Promise<boolean> {
  switch (t.kind) {
    case "retryRun":
      return retryRunOnPostgres(client, t);
    case "finishRunWithError":
      return finishRunWithErrorOnPostgres(client, t, freedKeys);
    case "sleepRun":
      return sleepRunOnPostgres(client, t);
    case "releaseRun":
      return releaseRunOnPostgres(client, t);
    case "interruptRun":
      return interruptRunOnPostgres(client, t);
    case "waitRun":
      return waitRunOnPostgres(client, t);
    case "pauseRun":
      return pauseRunOnPostgres(client, t);
  }
}
