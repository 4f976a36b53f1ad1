import type pg from "pg";
import {
  noPrunedRows,
  type PrunedRows,
  type PruningLease,
  type RetentionStore,
  rowsOfEvents,
  rowsOfRuns,
} from "../retention-store.ts";

/**
 * Every retention query on PostgreSQL, as SQL in full (the rows of runs and events are added from their lists).
 * Each delete re-checks its condition on the rows it locks: a run replayed while a batch picked it (queued
 * again) is not deleted. The ids are picked first (ARRAY(...), run once), then deleted by primary key: as
 * `IN (subquery)` with the re-check, the planner joined against a scan of the whole table.
 */
export const postgresRetentionSql = {
  claimLease: `INSERT INTO maintenance_leases (name, owner, until) VALUES ('retention', $1, $2)
    ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until = excluded.until
    WHERE maintenance_leases.until < $3 OR maintenance_leases.owner = excluded.owner`,
  renewLease: "UPDATE maintenance_leases SET until = $2 WHERE name = 'retention' AND owner = $1",
  releaseLease: "DELETE FROM maintenance_leases WHERE name = 'retention' AND owner = $1",
  /** runs_finished (status, finished_at): the oldest of one status, without reading the others. */
  pruneRuns: `DELETE FROM runs WHERE seq = ANY(ARRAY(
      SELECT seq FROM runs WHERE status = $1 AND finished_at < $2 ORDER BY finished_at LIMIT $3))
    AND status = $1 AND finished_at < $2
    RETURNING id, event_id`,
  /** The events these runs leave without any run; a quarantined one keeps its own, longer retention. */
  pruneEventsOfRuns: `DELETE FROM events e WHERE e.id = ANY($1::text[]) AND e.status <> 'quarantined'
    AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.event_id = e.id)
    RETURNING e.id`,
  /** events_status (status, received_at). Never an event with runs (a replay may have given one some). */
  pruneEvents: `DELETE FROM events e WHERE e.id = ANY(ARRAY(
      SELECT id FROM events WHERE status = $1 AND received_at < $2 ORDER BY received_at LIMIT $3))
    AND e.status = $1 AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.event_id = e.id)
    RETURNING e.id`,
  /** audit_log_runless (at) WHERE run_id IS NULL. */
  pruneRunlessAudit: `DELETE FROM audit_log WHERE id IN (
      SELECT id FROM audit_log WHERE run_id IS NULL AND at < $1 ORDER BY at LIMIT $2)`,
};

const q = postgresRetentionSql;
type Client = pg.PoolClient;

/**
 * Retention on PostgreSQL. Only the worker holding the lease row prunes; claims and heartbeats never touch
 * that row, and each batch is a short transaction of row locks on rows nobody else works on (terminal runs,
 * their journal, old events): no table lock, nothing for the hot path to wait on.
 */
export class PostgresRetention implements RetentionStore {
  readonly #pool: pg.Pool;
  readonly #transaction: <T>(work: (client: Client) => Promise<T>) => Promise<T>;
  readonly #rowsOfRuns: { table: keyof PrunedRows; text: string }[];
  readonly #rowsOfEvents: { table: keyof PrunedRows; text: string }[];

  constructor(deps: { pool: pg.Pool; transaction: <T>(work: (client: Client) => Promise<T>) => Promise<T> }) {
    this.#pool = deps.pool;
    this.#transaction = deps.transaction;
    const deleteBy = ({ table, column }: { table: keyof PrunedRows; column: string }) => ({
      table,
      text: `DELETE FROM ${table} WHERE ${column} = ANY($1::text[])`,
    });
    this.#rowsOfRuns = rowsOfRuns.map(deleteBy);
    this.#rowsOfEvents = (rowsOfEvents as readonly { table: keyof PrunedRows; column: string }[]).map(deleteBy);
  }

  async claimPruningLease(lease: PruningLease): Promise<boolean> {
    return ((await this.#pool.query(q.claimLease, [lease.owner, lease.until, lease.now])).rowCount ?? 0) === 1;
  }

  async releasePruningLease(owner: string): Promise<void> {
    await this.#pool.query(q.releaseLease, [owner]);
  }

  async pruneRuns(input: {
    status: "succeeded" | "failed" | "dead";
    finishedBefore: number;
    limit: number;
    lease: PruningLease;
  }): Promise<PrunedRows | null> {
    return this.#batch(input.lease, async (client, pruned) => {
      const runs = (
        await client.query<{ id: string; event_id: string }>(q.pruneRuns, [
          input.status,
          input.finishedBefore,
          input.limit,
        ])
      ).rows;
      pruned.runs = runs.length;
      if (runs.length === 0) return;
      const runIds = runs.map((run) => run.id);
      for (const { table, text } of this.#rowsOfRuns)
        pruned[table] += (await client.query(text, [runIds])).rowCount ?? 0;
      const eventIds = [...new Set(runs.map((run) => run.event_id))];
      await this.#deleteEvents(
        client,
        (await client.query<{ id: string }>(q.pruneEventsOfRuns, [eventIds])).rows,
        pruned,
      );
    });
  }

  async pruneEvents(input: {
    status: "unmatched" | "quarantined";
    receivedBefore: number;
    limit: number;
    lease: PruningLease;
  }): Promise<PrunedRows | null> {
    return this.#batch(input.lease, async (client, pruned) => {
      const events = await client.query<{ id: string }>(q.pruneEvents, [
        input.status,
        input.receivedBefore,
        input.limit,
      ]);
      await this.#deleteEvents(client, events.rows, pruned);
    });
  }

  async pruneRunlessAudit(input: { before: number; limit: number; lease: PruningLease }): Promise<PrunedRows | null> {
    return this.#batch(input.lease, async (client, pruned) => {
      pruned.audit_log = (await client.query(q.pruneRunlessAudit, [input.before, input.limit])).rowCount ?? 0;
    });
  }

  /** Counts events already deleted and deletes their rows. */
  async #deleteEvents(client: Client, events: { id: string }[], pruned: PrunedRows): Promise<void> {
    pruned.events += events.length;
    if (events.length === 0) return;
    const eventIds = events.map((event) => event.id);
    for (const { table, text } of this.#rowsOfEvents)
      pruned[table] += (await client.query(text, [eventIds])).rowCount ?? 0;
  }

  /** One transaction that first renews the lease: a pruner that lost it deletes nothing. */
  #batch(lease: PruningLease, work: (client: Client, pruned: PrunedRows) => Promise<void>): Promise<PrunedRows | null> {
    return this.#transaction(async (client) => {
      if ((await client.query(q.renewLease, [lease.owner, lease.until])).rowCount === 0) return null;
      const pruned = noPrunedRows();
      await work(client, pruned);
      return pruned;
    });
  }
}
