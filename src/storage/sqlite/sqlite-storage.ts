import { mkdirSync, renameSync, rmSync, statSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { Kysely, SqliteDialect } from "kysely";
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
import { newestMigration, runMigrations } from "../migrations/migrate.ts";
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
import { addRunsOnSqlite } from "../transitions/add-runs.ts";
import { claimRunsOnSqlite } from "../transitions/claim-runs.ts";
import { completeRunOnSqlite } from "../transitions/complete-run.ts";
import type { SqliteStatements } from "../transitions/dialects.ts";
import { enqueueRunsOnSqlite } from "../transitions/enqueue-runs.ts";
import { extendLeasesOnSqlite } from "../transitions/extend-leases.ts";
import { finishRunWithErrorOnSqlite } from "../transitions/finish-run-with-error.ts";
import { type SqliteRunQueueStatements, sqliteRunQueueSql } from "../transitions/index.ts";
import { interruptRunOnSqlite } from "../transitions/interrupt-run.ts";
import { pauseRunOnSqlite } from "../transitions/pause-run.ts";
import { recordStepOnSqlite } from "../transitions/record-step.ts";
import { releaseRunOnSqlite } from "../transitions/release-run.ts";
import { replayRunOnSqlite, replayRunsInOnSqlite } from "../transitions/replay-run.ts";
import { requalifyEventOnSqlite } from "../transitions/requalify-event.ts";
import { requeueAllRunningOnSqlite } from "../transitions/requeue-abandoned-runs.ts";
import { retryRunOnSqlite } from "../transitions/retry-run.ts";
import { sleepRunOnSqlite } from "../transitions/sleep-run.ts";
import { waitRunOnSqlite } from "../transitions/wait-run.ts";
import { SqliteAuditLog } from "./sqlite-audit-log.ts";
import { SqliteConnections } from "./sqlite-connections.ts";
import { SqliteDrift } from "./sqlite-drift.ts";
import { SqliteOperatorAccess } from "./sqlite-operator-access.ts";
import { SqliteRetention } from "./sqlite-retention.ts";
import { SqliteSessions } from "./sqlite-sessions.ts";
import { sqliteSql } from "./sqlite-statements.ts";
import { SqliteTags } from "./sqlite-tags.ts";
import { WalSync } from "./wal-sync.ts";
import { takeWorkerOwnership } from "./worker-ownership.ts";

export interface SqliteStorageOptions {
  /** File path, or ":memory:". */
  path: string;
  /** FULL (default) survives power loss; NORMAL survives a process crash only. */
  synchronous?: "FULL" | "NORMAL";
}

type Statements = SqliteStatements<keyof typeof sqliteSql> & SqliteRunQueueStatements;

/**
 * SQLite backend: one process owns the file (WAL). The hot path (accept, claim,
 * transitions) runs on prepared statements; Kysely runs migrations and the
 * read queries, where composing filters matters more than microseconds.
 */
export class SqliteStorage implements Storage {
  readonly dialect = "sqlite" as const;
  readonly #db: Database.Database;
  readonly #kysely: Kysely<unknown>;
  readonly #reads: ReadQueries;
  readonly readApi: ReadApiStore;
  readonly alerts: AlertStore;
  readonly operationalWebhooks: OperationalWebhookStore;
  readonly reconcile: ReconcileStore;
  readonly bulkActions: BulkActionStore;
  readonly #connections: SqliteConnections;
  readonly #tags: SqliteTags;
  readonly #retention: SqliteRetention;
  readonly #drift: SqliteDrift;
  readonly #auditLog: SqliteAuditLog;
  readonly operatorAccess: SqliteOperatorAccess;
  readonly sessions: SqliteSessions;
  #statements: Statements | undefined;
  /** Set for FULL durability: commits are synced off the event loop (see wal-sync.ts). */
  readonly #walSync: WalSync | undefined;
  readonly #path: string;
  /** Held while this process runs the file's worker (see worker-ownership.ts). */
  #ownership: Database.Database | undefined;

  constructor(options: SqliteStorageOptions) {
    this.#path = options.path;
    if (options.path !== ":memory:") mkdirSync(dirname(options.path), { recursive: true });
    this.#db = new Database(options.path);
    const journal = this.#db.pragma("journal_mode = WAL", { simple: true });
    const full = (options.synchronous ?? "FULL") === "FULL";
    this.#walSync = full && journal === "wal" ? new WalSync(`${this.#db.name}-wal`) : undefined;
    this.#db.pragma(`synchronous = ${this.#walSync ? "NORMAL" : (options.synchronous ?? "FULL")}`);
    this.#db.pragma("busy_timeout = 5000");
    this.#kysely = new Kysely({ dialect: new SqliteDialect({ database: this.#db }) });
    this.#reads = new ReadQueries(this.#kysely);
    this.readApi = new ReadApiQueries(this.#kysely);
    this.alerts = new AlertQueries(this.#kysely);
    this.operationalWebhooks = new OperationalWebhookQueries(this.#kysely);
    this.reconcile = new ReconcileQueries(this.#kysely);
    this.bulkActions = new BulkActionQueries(this.#kysely);
    this.#connections = new SqliteConnections(this.#db, {
      immediate: (fn) => this.#immediate(fn),
      durably: (fn) => this.#durably(fn),
    });
    this.#tags = new SqliteTags(this.#db, { durably: (fn) => this.#durably(fn) });
    // Not durably: a prune lost to a power cut is done again at the next pass.
    this.#retention = new SqliteRetention(this.#db, { immediate: (fn) => this.#immediate(fn) });
    this.operatorAccess = new SqliteOperatorAccess(this.#db, { durably: (fn) => this.#durably(fn) });
    this.sessions = new SqliteSessions(this.#db, { durably: (fn) => this.#durably(fn) });
    // Not durably either: shapes and incidents lost to a power cut are learned and found again.
    this.#drift = new SqliteDrift(this.#db, { immediate: (fn) => this.#immediate(fn) });
    this.#auditLog = new SqliteAuditLog(this.#db);
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

  get drift(): DriftStore {
    return this.#drift;
  }

  async migrate(): Promise<void> {
    await runMigrations(this.#kysely, "sqlite");
    this.#statements = Object.fromEntries(
      Object.entries({ ...sqliteSql, ...sqliteRunQueueSql }).map(([name, text]) => [name, this.#db.prepare(text)]),
    ) as Statements;
    this.#connections.prepare();
    this.#tags.prepare();
    this.#retention.prepare();
    this.#drift.prepare();
  }

  async checkReady(): Promise<void> {
    // A local file: the query either answers at once or waits at most the busy timeout for a lock.
    let applied: unknown;
    try {
      applied = this.#db.prepare("SELECT 1 FROM migrations WHERE name = ?").get(newestMigration);
    } catch (error) {
      const message = (error as Error).message;
      if (message !== "no such table: migrations") {
        throw new Error(`the SQLite database ${this.#path} cannot be read: ${message}`, { cause: error });
      }
    }
    if (!applied) throw new Error(`migration ${newestMigration} is not applied; run \`tenon migrate\``);
  }

  async backupTo(file: string): Promise<BackupSummary> {
    // Written beside the target and renamed over it: a failed backup leaves no half file and keeps the old one.
    const partial = `${file}.partial-${process.pid}`;
    try {
      // All pages in one step, so one read transaction: a consistent snapshot. In small steps, every commit of the
      // running engine (another connection) would restart the copy, and a busy engine would keep it from finishing.
      await this.#db.backup(partial, { progress: () => 0x7fffffff });
      const copy = new Database(partial);
      let counts: { events: number; runs: number };
      try {
        // A single self-contained file (no -wal beside it): restoring is copying it back.
        copy.pragma("journal_mode = DELETE");
        counts = copy
          .prepare("SELECT (SELECT count(*) FROM events) AS events, (SELECT count(*) FROM runs) AS runs")
          .get() as { events: number; runs: number };
      } finally {
        copy.close();
      }
      renameSync(partial, file);
      return { bytes: statSync(file).size, ...counts };
    } catch (error) {
      rmSync(partial, { force: true });
      throw error;
    }
  }

  async close(): Promise<void> {
    await this.#walSync?.close();
    await this.#kysely.destroy();
    if (this.#db.open) this.#db.close();
    await this.endWorkerSession();
  }

  get #sql(): Statements {
    if (!this.#statements)
      throw new Error("storage used before migrate(): call storage.migrate() (engine.start() does)");
    return this.#statements;
  }

  #immediate<T>(fn: () => T): T {
    return this.#db.transaction(fn).immediate();
  }

  /**
   * A write transaction that resolves only once it is on disk. Claims use it too: a run must not start
   * before the event that created it is durable, or a power loss could undo an event whose effects happened.
   */
  async #durably<T>(fn: () => T): Promise<T> {
    const result = this.#immediate(fn);
    await this.#walSync?.sync();
    return result;
  }

  async acceptEvents(events: NewEvent[]): Promise<AcceptResult[]> {
    return this.#durably(() => events.map((event) => this.#acceptEvent(event)));
  }

  #acceptEvent(event: NewEvent): AcceptResult {
    const s = this.#sql;
    if (event.dedupKey !== null) {
      const existing = s.findDuplicateEvent.get(event.source, event.dedupKey) as
        | { id: string; fingerprint: string | null }
        | undefined;
      if (existing) {
        const runIds = (s.runIdsOfEvent.all(existing.id) as { id: string }[]).map((r) => r.id);
        return { duplicate: true, eventId: existing.id, runIds, fingerprint: existing.fingerprint };
      }
    }
    s.insertEvent.run(
      event.id,
      event.source,
      event.type,
      event.dedupKey,
      event.payloadJson,
      eventStatus(event),
      event.quarantineReason ?? null,
      event.fingerprint ?? null,
      event.receivedAt,
      event.traceContext ?? null,
    );
    if (event.quarantineReason === undefined)
      enqueueRunsOnSqlite(s, this.#tags, event.id, event.runs, event.receivedAt);
    return { duplicate: false, eventId: event.id, runIds: event.runs.map((r) => r.id) };
  }

  async addRuns(eventId: string, runs: NewRun[], now: number): Promise<void> {
    await this.#durably(() => addRunsOnSqlite(this.#sql, this.#tags, eventId, runs, now));
  }

  async claimDueRuns(input: ClaimInput & { limit: number }): Promise<ClaimedRun[]> {
    const s = this.#sql;
    return this.#durably(() => claimRunsOnSqlite(s, "claimDueRuns", input));
  }

  async claimSuspectRun(input: ClaimInput & { maxCrashes: number }): Promise<ClaimedRun | null> {
    const s = this.#sql;
    return this.#durably(() => claimRunsOnSqlite(s, "claimSuspectRun", { ...input, limit: 1 })[0] ?? null);
  }

  async hasDueSuspect(now: number, maxCrashes: number): Promise<boolean> {
    return (this.#sql.hasDueSuspect.get(now, maxCrashes) as { due: number }).due === 1;
  }

  async applyTransitions(transitions: RunTransition[]): Promise<boolean[]> {
    const s = this.#sql;
    return this.#durably(() => {
      // The exchanges of the attempts these transitions end: as durable as the transitions (held-audit.ts).
      this.#auditLog.writeCarriedBy(transitions);
      return transitions.map((t) => applyTransition(s, t));
    });
  }

  async extendLeases(leaseTokens: string[], leaseUntil: number): Promise<RenewedLease[]> {
    return extendLeasesOnSqlite(this.#sql, leaseTokens, leaseUntil);
  }

  /** Nothing expires on SQLite: the file's one worker process renews every lease it holds. */
  async expireLeases(): Promise<number> {
    return 0;
  }

  async beginWorkerSession(now: number): Promise<number> {
    if (this.#path !== ":memory:") this.#ownership ??= takeWorkerOwnership(this.#path);
    const s = this.#sql;
    return this.#durably(() => requeueAllRunningOnSqlite(s, now));
  }

  async endWorkerSession(): Promise<void> {
    this.#ownership?.close();
    this.#ownership = undefined;
  }

  async nextDueAt(): Promise<number | null> {
    const row = this.#sql.nextDueAt.get() as { at: number | null };
    return row.at;
  }

  async replayRun(runId: string, now: number, actor?: string): Promise<RunRecord> {
    const s = this.#sql;
    return this.#durably(() => replayRunOnSqlite(s, runId, now, actor));
  }

  async replayRunsIn(
    selection: Pick<ReplaySelection, "status" | "finishedBy">,
    runIds: string[],
    now: number,
    actor?: string,
  ): Promise<string[]> {
    const s = this.#sql;
    return this.#durably(() => replayRunsInOnSqlite(s, selection, runIds, now, actor));
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
    const s = this.#sql;
    return this.#durably(() => requalifyEventOnSqlite(s, this.#tags, eventId, outcome, now, from));
  }

  async fireScheduleTick(scheduleId: string, tickAt: number, event: NewEvent): Promise<boolean> {
    const s = this.#sql;
    return this.#durably(() => {
      s.ensureSchedule.run(scheduleId);
      if (s.advanceSchedule.run(tickAt, scheduleId, tickAt).changes !== 1) return false;
      this.#acceptEvent(event);
      return true;
    });
  }

  async getScheduleLastTick(scheduleId: string): Promise<number | null> {
    const row = this.#sql.scheduleLastTick.get(scheduleId) as { last_tick_at: number | null } | undefined;
    return row?.last_tick_at ?? null;
  }

  async claimPoll(input: PollLease & { leaseUntil: number }): Promise<PollClaim | null> {
    const s = this.#sql;
    return this.#immediate(() => {
      // Due from the moment a worker first sees it: how late it is counts from then (the poll-failing alert).
      s.ensurePollSource.run(input.pollId, input.now);
      const row = s.claimPoll.get(input.owner, input.leaseUntil, input.pollId, input.now, input.now) as
        | { cursor: string | null; consecutive_failures: number }
        | undefined;
      return row ? { cursor: row.cursor, consecutiveFailures: row.consecutive_failures } : null;
    });
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
    const s = this.#sql;
    const lostLease = Symbol("lost lease");
    try {
      return await this.#durably(() => {
        const results = input.events.map((event) => this.#acceptEvent(event));
        const fresh = results.filter((r) => !r.duplicate).length;
        const keep = input.keepLease ? 1 : 0;
        const moved = s.commitPoll.run(
          input.cursor,
          input.nextPollAt,
          input.now,
          fresh,
          keep,
          keep,
          input.leaseUntil,
          input.pollId,
          input.owner,
        );
        // Lost the lease (expired and taken, or reset by a backfill): throwing rolls the page's events back.
        if (moved.changes !== 1) throw lostLease;
        return results;
      });
    } catch (error) {
      if (error === lostLease) return null;
      throw error;
    }
  }

  async failPoll(input: PollLease & { error: string; nextPollAt: number }): Promise<void> {
    this.#sql.failPoll.run(input.nextPollAt, input.error, input.now, input.pollId, input.owner);
  }

  async resetPollCursor(pollId: string, cursor: string | null, now: number): Promise<void> {
    await this.#durably(() => this.#sql.resetPollCursor.run(pollId, cursor, now));
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

  onRunsAvailable(): () => void {
    // One process owns a SQLite file: the engine wakes its own worker when it enqueues.
    return () => {};
  }
}

/** One transition of a batch, inside its transaction (see ../transitions/ for each). */
function applyTransition(s: Statements, t: RunTransition): boolean {
  switch (t.kind) {
    case "recordStep":
      return recordStepOnSqlite(s, t);
    case "completeRun":
      return completeRunOnSqlite(s, t);
    case "retryRun":
      return retryRunOnSqlite(s, t);
    case "finishRunWithError":
      return finishRunWithErrorOnSqlite(s, t);
    case "sleepRun":
      return sleepRunOnSqlite(s, t);
    case "releaseRun":
      return releaseRunOnSqlite(s, t);
    case "interruptRun":
      return interruptRunOnSqlite(s, t);
    case "waitRun":
      return waitRunOnSqlite(s, t);
    case "pauseRun":
      return pauseRunOnSqlite(s, t);
  }
}
