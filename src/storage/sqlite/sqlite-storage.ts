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
import { terminalStatuses } from "../contract.ts";
import type { DriftStore } from "../drift-store.ts";
import { newestMigration, runMigrations } from "../migrations/migrate.ts";
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
import { SqliteAuditLog } from "./sqlite-audit-log.ts";
import { SqliteConnections } from "./sqlite-connections.ts";
import { SqliteDrift } from "./sqlite-drift.ts";
import { SqliteOperatorAccess } from "./sqlite-operator-access.ts";
import { SqliteRetention } from "./sqlite-retention.ts";
import { SqliteSessions } from "./sqlite-sessions.ts";
import { SqliteTags } from "./sqlite-tags.ts";
import { sqliteSql } from "./sqlite-transitions.ts";
import { WalSync } from "./wal-sync.ts";
import { takeWorkerOwnership } from "./worker-ownership.ts";

export interface SqliteStorageOptions {
  /** File path, or ":memory:". */
  path: string;
  /** FULL (default) survives power loss; NORMAL survives a process crash only. */
  synchronous?: "FULL" | "NORMAL";
}

type Statements = { [K in keyof typeof sqliteSql]: Database.Statement };
type FailedAttempt = Extract<RunTransition, { kind: "retryRun" | "finishRunWithError" }>;
type ReplayedRow = ReplayRow;

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
      Object.entries(sqliteSql).map(([name, text]) => [name, this.#db.prepare(text)]),
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
    if (event.quarantineReason === undefined) this.#insertRuns(event.id, event.runs, event.receivedAt);
    return { duplicate: false, eventId: event.id, runIds: event.runs.map((r) => r.id) };
  }

  #insertRuns(eventId: string, runs: NewRun[], now: number): void {
    for (const run of runs) {
      const status = this.#statusForNewRun(run.concurrencyKey, run.concurrencyLimit);
      this.#sql.insertRun.run(
        run.id,
        run.integrationId,
        eventId,
        status,
        run.concurrencyKey,
        run.concurrencyLimit,
        now,
        now,
        now,
      );
    }
    this.#tags.insertRunTags(eventId, runs, now);
  }

  #statusForNewRun(key: string | null, limit: number | null): RunStatus {
    if (key === null) return "queued";
    const { active } = this.#sql.takeConcurrencySlot.get(key) as { active: number };
    return active <= (limit ?? 1) ? "queued" : "blocked";
  }

  async addRuns(eventId: string, runs: NewRun[], now: number): Promise<void> {
    await this.#durably(() => {
      this.#insertRuns(eventId, runs, now);
      if (runs.length > 0) this.#db.prepare("UPDATE events SET status = 'accepted' WHERE id = ?").run(eventId);
    });
  }

  async claimDueRuns(input: ClaimInput & { limit: number }): Promise<ClaimedRun[]> {
    return this.#claim(this.#sql.claimDueRuns, input);
  }

  async claimSuspectRun(input: ClaimInput & { maxCrashes: number }): Promise<ClaimedRun | null> {
    return (await this.#claim(this.#sql.claimSuspectRun, { ...input, limit: 1 }))[0] ?? null;
  }

  async hasDueSuspect(now: number, maxCrashes: number): Promise<boolean> {
    return (this.#sql.hasDueSuspect.get(now, maxCrashes) as { due: number }).due === 1;
  }

  #claim(statement: Database.Statement, input: ClaimInput & { limit: number }): Promise<ClaimedRun[]> {
    const s = this.#sql;
    return this.#durably(() => {
      const { leaseToken, limit, now, leaseUntil } = input;
      const rows = statement.all({
        token: leaseToken,
        leaseUntil,
        now,
        limit,
        maxCrashes: input.maxCrashes ?? Number.MAX_SAFE_INTEGER,
        claimedBy: input.claimedBy ?? null,
      }) as {
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
      }[];
      if (rows.length === 0) return [];
      rows.sort((a, b) => a.seq - b.seq);
      const reclaimed = rows.filter((r) => r.claims > 1);
      if (reclaimed.length > 0) {
        s.recordClaims.run(now, input.claimedBy ?? null, JSON.stringify(reclaimed.map((r) => r.id)));
      }
      const eventIds = JSON.stringify([...new Set(rows.map((r) => r.event_id))]);
      const events = new Map((s.eventsByIds.all(eventIds) as ClaimedEventRow[]).map((e) => [e.id, e]));
      const journals = groupJournal(s.journalOfRuns.all(JSON.stringify(rows.map((r) => r.id))) as StepRow[]);
      return rows.map((row) => {
        const event = events.get(row.event_id);
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
    });
  }

  async applyTransitions(transitions: RunTransition[]): Promise<boolean[]> {
    return this.#durably(() => {
      // The exchanges of the attempts these transitions end: as durable as the transitions (held-audit.ts).
      this.#auditLog.writeCarriedBy(transitions);
      return transitions.map((t) => this.#apply(t));
    });
  }

  #apply(t: RunTransition): boolean {
    const s = this.#sql;
    switch (t.kind) {
      case "recordStep":
        return s.recordStep.run(t.runId, t.name, t.outputJson, t.startedAt, t.now, t.runId, t.leaseToken).changes === 1;
      case "completeRun": {
        const row = s.completeRun.get(t.outputJson, t.now, t.now, t.runId, t.leaseToken) as
          | { concurrency_key: string | null }
          | undefined;
        if (!row) return false;
        // Its success is the run row itself (status, finished_at): the timeline reads it from there.
        this.#releaseSlot(row.concurrency_key, t.now);
        return true;
      }
      case "retryRun": {
        const runFailure = t.stepFailure ? 0 : 1;
        const ok = s.retryRun.run(t.availableAt, t.error, runFailure, t.now, t.runId, t.leaseToken).changes === 1;
        if (ok) this.#recordFailedAttempt(t, "retry");
        return ok;
      }
      case "finishRunWithError": {
        const runFailure = t.stepFailure ? 0 : 1;
        const row = s.finishRunWithError.get(t.status, t.error, runFailure, t.now, t.now, t.runId, t.leaseToken) as
          | { concurrency_key: string | null }
          | undefined;
        if (!row) return false;
        this.#recordFailedAttempt(t, t.status);
        this.#releaseSlot(row.concurrency_key, t.now);
        return true;
      }
      case "sleepRun": {
        const ok = s.sleepRun.run(t.wakeAt, t.now, t.runId, t.leaseToken).changes === 1;
        if (!ok) return false;
        s.recordSleep.run(t.runId, t.name, JSON.stringify({ sleepUntil: t.wakeAt }), t.now);
        this.#recordHistory({ runId: t.runId, kind: "sleep", stepName: t.name, at: t.now, until: t.wakeAt });
        return true;
      }
      case "releaseRun":
        return s.releaseRun.run(t.now, t.now, t.runId, t.leaseToken).changes === 1;
      case "interruptRun": {
        const ok =
          s.interruptRun.run({ now: t.now, reason: t.reason, id: t.runId, leaseToken: t.leaseToken }).changes === 1;
        if (ok) this.#recordHistory({ runId: t.runId, kind: "interrupt", at: t.now, detail: t.reason });
        return ok;
      }
      case "waitRun": {
        const ok = s.waitRun.run(t.availableAt, t.connectionId, t.reason, t.now, t.runId, t.leaseToken).changes === 1;
        if (ok) {
          const { runId, connectionId, now: at, availableAt: until, reason: detail } = t;
          this.#recordHistory({ runId, kind: "wait", connectionId, at, until, detail });
        }
        return ok;
      }
      case "pauseRun": {
        const connection = s.connectionStatus.get(t.connectionId) as { status: string } | undefined;
        // New credentials were saved since this attempt was rejected: nothing would resume a paused run.
        if (connection?.status !== "auth_failed")
          return s.releaseRun.run(t.now, t.now, t.runId, t.leaseToken).changes === 1;
        const ok = s.pauseRun.run(t.connectionId, t.reason, t.now, t.runId, t.leaseToken).changes === 1;
        if (ok)
          this.#recordHistory({
            runId: t.runId,
            kind: "pause",
            connectionId: t.connectionId,
            at: t.now,
            detail: t.reason,
          });
        return ok;
      }
    }
  }

  /** The failed attempt, in the step's journal row (its latest error) and in the run's history (every error). */
  #recordFailedAttempt(t: FailedAttempt, outcome: "retry" | "dead" | "failed"): void {
    const stepName = t.stepFailure?.name ?? null;
    if (t.stepFailure) {
      this.#sql.recordStepFailure.run(t.runId, t.stepFailure.name, t.stepFailure.error, t.attemptStartedAt, t.now);
    }
    const detail = t.stepFailure?.error ?? t.error;
    const { runId, attempt, attemptStartedAt: startedAt, now: at } = t;
    const until = t.kind === "retryRun" ? t.availableAt : null;
    this.#recordHistory({ runId, kind: outcome, stepName, attempt, startedAt, at, until, detail });
  }

  #recordHistory(entry: HistoryInput): void {
    this.#sql.recordHistory.run({ ...noHistoryFields, ...entry });
  }

  #releaseSlot(key: string | null, now: number): void {
    if (key === null) return;
    const row = this.#sql.releaseConcurrencySlot.get(key) as { active: number } | undefined;
    if (row && row.active <= 0) this.#sql.forgetIdleConcurrencyKey.run(key);
    this.#sql.promoteOldestBlocked.run(now, now, key);
  }

  async extendLeases(leaseTokens: string[], leaseUntil: number): Promise<RenewedLease[]> {
    if (leaseTokens.length === 0) return [];
    const rows = this.#sql.extendLeases.all(leaseUntil, JSON.stringify(leaseTokens)) as RenewedLeaseRow[];
    return rows.map(toRenewedLease);
  }

  /** Nothing expires on SQLite: the file's one worker process renews every lease it holds. */
  async expireLeases(): Promise<number> {
    return 0;
  }

  async beginWorkerSession(now: number): Promise<number> {
    if (this.#path !== ":memory:") this.#ownership ??= takeWorkerOwnership(this.#path);
    const reason =
      "the process running this attempt stopped without finishing it (crash); the run was requeued at restart";
    return this.#durably(() => {
      this.#sql.recordAllInterruptions.run({ now, reason });
      return this.#sql.interruptAllRuns.run({ now, reason }).changes;
    });
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
    return this.#durably(() => {
      const row = this.#db.prepare(`SELECT ${runColumns}, concurrency_limit FROM runs WHERE id = ?`).get(runId) as
        | (RunRow & { concurrency_limit: number | null })
        | undefined;
      const problem = replayableRunError(runId, row?.status);
      if (problem) throw problem;
      const run = row as RunRow & { concurrency_limit: number | null };
      return replayedRun(run, this.#replay(run, now, actor), now);
    });
  }

  async replayRunsIn(
    selection: Pick<ReplaySelection, "status" | "finishedBy">,
    runIds: string[],
    now: number,
    actor?: string,
  ): Promise<string[]> {
    return this.#durably(() =>
      runIds.filter((runId) => {
        const run = this.#sql.runToReplay.get(runId) as ReplayedRow | undefined;
        if (!run || !stillSelected(run, selection)) return false;
        this.#replay(run, now, actor);
        return true;
      }),
    );
  }

  /** Requeues the run (inside a transaction) and returns its new status. */
  #replay(run: ReplayedRow, now: number, actor?: string): RunStatus {
    const wasFinished = terminalStatuses.includes(run.status as RunStatus);
    const status = wasFinished ? this.#statusForNewRun(run.concurrency_key, run.concurrency_limit) : "queued";
    this.#sql.replayRun.run(status, now, now, run.id);
    this.#sql.resetFailedSteps.run(run.id);
    // A success is the run row's own until a replay clears it: from then on the history keeps it.
    if (run.status === "succeeded" && run.finished_at !== null) {
      this.#recordHistory({ runId: run.id, kind: "succeeded", at: run.finished_at });
    }
    this.#recordHistory({ runId: run.id, kind: "replay", at: now, detail: run.status, actor: actor ?? null });
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
    const s = this.#sql;
    return this.#durably(() => {
      if (!s.eventInStatus.get(eventId, from)) return false;
      if ("quarantineReason" in outcome) {
        s.requarantineEvent.run(outcome.quarantineReason, eventId);
      } else {
        this.#insertRuns(eventId, outcome.runs, now);
        const status = outcome.runs.length > 0 ? "accepted" : "unmatched";
        s.requalifyEvent.run(status, outcome.parsed?.type ?? null, outcome.parsed?.payloadJson ?? null, eventId);
      }
      return true;
    });
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
