import type Database from "better-sqlite3";
import {
  noPrunedRows,
  type PrunedRows,
  type PruningLease,
  type RetentionStore,
  rowsOfEvents,
  rowsOfRuns,
} from "../retention-store.ts";

/** Lists of ids travel as one JSON array parameter: one prepared statement for any batch size. */
const ids = "SELECT value FROM json_each(?)";

/** Every retention query on SQLite, as SQL in full (the rows of runs and events are added from their lists). */
export const sqliteRetentionSql = {
  claimLease: `INSERT INTO maintenance_leases (name, owner, until) VALUES ('retention', @owner, @until)
    ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until = excluded.until
    WHERE maintenance_leases.until < @now OR maintenance_leases.owner = excluded.owner`,
  renewLease: "UPDATE maintenance_leases SET until = @until WHERE name = 'retention' AND owner = @owner",
  releaseLease: "DELETE FROM maintenance_leases WHERE name = 'retention' AND owner = ?",
  /** runs_finished (status, finished_at): the oldest of one status, without reading the others. */
  pruneRuns: `DELETE FROM runs WHERE seq IN (
      SELECT seq FROM runs WHERE status = ? AND finished_at < ? ORDER BY finished_at LIMIT ?)
    RETURNING id, event_id`,
  /** The events these runs leave without any run; a quarantined one keeps its own, longer retention. */
  pruneEventsOfRuns: `DELETE FROM events WHERE id IN (${ids}) AND status <> 'quarantined'
    AND NOT EXISTS (SELECT 1 FROM runs WHERE runs.event_id = events.id)
    RETURNING id`,
  /** events_status (status, received_at). Never an event with runs (a replay may have given one some). */
  pruneEvents: `DELETE FROM events WHERE id IN (
      SELECT id FROM events WHERE status = ? AND received_at < ? ORDER BY received_at LIMIT ?)
    AND NOT EXISTS (SELECT 1 FROM runs WHERE runs.event_id = events.id)
    RETURNING id`,
  /** audit_log_runless (at) WHERE run_id IS NULL. */
  pruneRunlessAudit: `DELETE FROM audit_log WHERE id IN (
      SELECT id FROM audit_log WHERE run_id IS NULL AND at < ? ORDER BY at LIMIT ?)`,
};

type Statements = { [K in keyof typeof sqliteRetentionSql]: Database.Statement };

/**
 * Retention on SQLite. One process owns the file, so the lease is never contended here; it is kept so that
 * both backends behave alike. A batch holds the write lock for its length, so batches stay small.
 */
export class SqliteRetention implements RetentionStore {
  readonly #db: Database.Database;
  readonly #immediate: <T>(fn: () => T) => T;
  #statements: Statements | undefined;
  #rowsOfRuns: { table: keyof PrunedRows; statement: Database.Statement }[] = [];
  #rowsOfEvents: { table: keyof PrunedRows; statement: Database.Statement }[] = [];

  constructor(db: Database.Database, transactions: { immediate: <T>(fn: () => T) => T }) {
    this.#db = db;
    this.#immediate = transactions.immediate;
  }

  /** Prepares the statements; called after migrations, when the tables exist. */
  prepare(): void {
    this.#statements = Object.fromEntries(
      Object.entries(sqliteRetentionSql).map(([name, text]) => [name, this.#db.prepare(text)]),
    ) as Statements;
    const deleteBy = ({ table, column }: { table: keyof PrunedRows; column: string }) => ({
      table,
      statement: this.#db.prepare(`DELETE FROM ${table} WHERE ${column} IN (${ids})`),
    });
    this.#rowsOfRuns = rowsOfRuns.map(deleteBy);
    this.#rowsOfEvents = (rowsOfEvents as readonly { table: keyof PrunedRows; column: string }[]).map(deleteBy);
  }

  get #sql(): Statements {
    if (!this.#statements)
      throw new Error("storage used before migrate(): call storage.migrate() (engine.start() does)");
    return this.#statements;
  }

  async claimPruningLease(lease: PruningLease): Promise<boolean> {
    return this.#sql.claimLease.run(lease).changes === 1;
  }

  async releasePruningLease(owner: string): Promise<void> {
    this.#sql.releaseLease.run(owner);
  }

  async pruneRuns(input: {
    status: "succeeded" | "failed" | "dead";
    finishedBefore: number;
    limit: number;
    lease: PruningLease;
  }): Promise<PrunedRows | null> {
    return this.#batch(input.lease, (pruned) => {
      const runs = this.#sql.pruneRuns.all(input.status, input.finishedBefore, input.limit) as {
        id: string;
        event_id: string;
      }[];
      pruned.runs = runs.length;
      if (runs.length === 0) return;
      const runIds = JSON.stringify(runs.map((run) => run.id));
      for (const { table, statement } of this.#rowsOfRuns) pruned[table] += statement.run(runIds).changes;
      const eventIds = JSON.stringify([...new Set(runs.map((run) => run.event_id))]);
      this.#deleteEvents(this.#sql.pruneEventsOfRuns.all(eventIds) as { id: string }[], pruned);
    });
  }

  async pruneEvents(input: {
    status: "unmatched" | "quarantined";
    receivedBefore: number;
    limit: number;
    lease: PruningLease;
  }): Promise<PrunedRows | null> {
    return this.#batch(input.lease, (pruned) => {
      const events = this.#sql.pruneEvents.all(input.status, input.receivedBefore, input.limit) as { id: string }[];
      this.#deleteEvents(events, pruned);
    });
  }

  async pruneRunlessAudit(input: { before: number; limit: number; lease: PruningLease }): Promise<PrunedRows | null> {
    return this.#batch(input.lease, (pruned) => {
      pruned.audit_log = this.#sql.pruneRunlessAudit.run(input.before, input.limit).changes;
    });
  }

  /** Counts events already deleted and deletes their rows. */
  #deleteEvents(events: { id: string }[], pruned: PrunedRows): void {
    pruned.events += events.length;
    if (events.length === 0 || this.#rowsOfEvents.length === 0) return;
    const eventIds = JSON.stringify(events.map((event) => event.id));
    for (const { table, statement } of this.#rowsOfEvents) pruned[table] += statement.run(eventIds).changes;
  }

  /** One transaction that first renews the lease: a pruner that lost it deletes nothing. */
  #batch(lease: PruningLease, work: (pruned: PrunedRows) => void): PrunedRows | null {
    return this.#immediate(() => {
      if (this.#sql.renewLease.run({ owner: lease.owner, until: lease.until }).changes === 0) return null;
      const pruned = noPrunedRows();
      work(pruned);
      return pruned;
    });
  }
}
