import type { Kysely } from "kysely";
import type {
  EventFilter,
  EventRecord,
  EventSelection,
  EventStatus,
  PollState,
  ReplayCandidate,
  ReplayCursor,
  ReplaySelection,
  RunFilter,
  RunHistoryEntry,
  RunRecord,
  RunStatus,
  StepRecord,
} from "./contract.ts";
import { errorContains } from "./error-contains.ts";
import {
  type EventRow,
  type PollSourceRow,
  type RunHistoryRow,
  type RunRow,
  type StepRow,
  toEventRecord,
  toPollState,
  toRunHistoryEntry,
  toRunRecord,
  toStepRecord,
} from "./rows.ts";

/**
 * The read side of the contract, the same on both backends: Kysely composes the filters and speaks each
 * dialect, and nothing here is on the hot path.
 */
export class ReadQueries {
  // biome-ignore lint/suspicious/noExplicitAny: rows are typed by the mappers in rows.ts
  readonly #db: Kysely<any>;

  constructor(db: Kysely<unknown>) {
    this.#db = db;
  }

  async getRun(runId: string): Promise<RunRecord | null> {
    const row = await this.#db.selectFrom("runs").selectAll().where("id", "=", runId).executeTakeFirst();
    return row ? toRunRecord(row as RunRow) : null;
  }

  async getEvent(eventId: string): Promise<EventRecord | null> {
    const row = await this.#db.selectFrom("events").selectAll().where("id", "=", eventId).executeTakeFirst();
    return row ? toEventRecord(row as EventRow) : null;
  }

  async listRuns(filter: RunFilter = {}): Promise<RunRecord[]> {
    let query = this.#db.selectFrom("runs").selectAll();
    if (filter.status) query = query.where("status", "=", filter.status);
    if (filter.integrationId) query = query.where("integration_id", "=", filter.integrationId);
    if (filter.eventId) query = query.where("event_id", "=", filter.eventId);
    if (filter.createdSince !== undefined) query = query.where("created_at", ">=", filter.createdSince);
    if (filter.createdBefore !== undefined) query = query.where("created_at", "<", filter.createdBefore);
    // (created_at, seq), as the read API: each filter's index returns the runs in that order.
    const rows = await query
      .orderBy("created_at", "desc")
      .orderBy("seq", "desc")
      .limit(filter.limit ?? 100)
      .execute();
    return rows.map((r) => toRunRecord(r as RunRow));
  }

  async listEvents(filter: EventFilter = {}): Promise<EventRecord[]> {
    let query = this.#db.selectFrom("events").selectAll();
    if (filter.status) query = query.where("status", "=", filter.status);
    if (filter.source) query = query.where("source", "=", filter.source);
    if (filter.since !== undefined) query = query.where("received_at", ">=", filter.since);
    if (filter.until !== undefined) query = query.where("received_at", "<", filter.until);
    const rows = await query
      .orderBy("received_at", "desc")
      .limit(filter.limit ?? 100)
      .execute();
    return rows.map((r) => toEventRecord(r as EventRow));
  }

  async listSteps(runId: string): Promise<StepRecord[]> {
    const rows = await this.#db
      .selectFrom("steps")
      .selectAll()
      .where("run_id", "=", runId)
      .orderBy("updated_at")
      .execute();
    return rows.map((r) => toStepRecord(r as StepRow));
  }

  async listRunHistory(runId: string): Promise<RunHistoryEntry[]> {
    const rows = await this.#db
      .selectFrom("run_history")
      .selectAll()
      .where("run_id", "=", runId)
      .orderBy("seq")
      .execute();
    return rows.map((r) => toRunHistoryEntry(r as RunHistoryRow));
  }

  async countRunsToReplay(selection: ReplaySelection): Promise<number> {
    const row = await this.#runsToReplay(selection)
      .select((eb) => eb.fn.countAll<number>().as("count"))
      .executeTakeFirst();
    return Number(row?.count ?? 0);
  }

  /** Keyset paging on (finished_at, seq), in runs_finished's order: a page reads only its own rows. */
  async listRunsToReplay(
    selection: ReplaySelection,
    after: ReplayCursor | undefined,
    limit: number,
  ): Promise<ReplayCandidate[]> {
    let query = this.#runsToReplay(selection).select([
      "seq",
      "finished_at",
      "id",
      "integration_id",
      "created_at",
      "last_error",
    ]);
    if (after) {
      query = query.where((eb) => eb(eb.refTuple("finished_at", "seq"), ">", eb.tuple(after.finishedAt, after.seq)));
    }
    const rows = await query.orderBy("finished_at").orderBy("seq").limit(limit).execute();
    return rows.map((r) => ({
      cursor: { finishedAt: Number(r.finished_at), seq: Number(r.seq) },
      id: r.id,
      integrationId: r.integration_id,
      createdAt: Number(r.created_at),
      lastError: r.last_error,
    }));
  }

  #runsToReplay(selection: ReplaySelection) {
    let query = this.#db
      .selectFrom("runs")
      .where("status", "=", selection.status)
      .where("finished_at", "<=", selection.finishedBy);
    if (selection.integrationId) query = query.where("integration_id", "=", selection.integrationId);
    if (selection.errorContains) query = query.where(errorContains(selection.errorContains));
    if (selection.createdSince !== undefined) query = query.where("created_at", ">=", selection.createdSince);
    if (selection.createdBefore !== undefined) query = query.where("created_at", "<", selection.createdBefore);
    return query;
  }

  async countEventsToReplay(selection: EventSelection): Promise<number> {
    const row = await this.#eventsToReplay(selection)
      .select((eb) => eb.fn.countAll<number>().as("count"))
      .executeTakeFirst();
    return Number(row?.count ?? 0);
  }

  /** Keyset paging on (received_at, id): events that stay quarantined must not be read again. */
  async listEventsToReplay(
    selection: EventSelection,
    after: { receivedAt: number; id: string } | null,
    limit: number,
  ): Promise<EventRecord[]> {
    let query = this.#eventsToReplay(selection).selectAll();
    if (after) {
      query = query.where((eb) =>
        eb.or([
          eb("received_at", ">", after.receivedAt),
          eb.and([eb("received_at", "=", after.receivedAt), eb("id", ">", after.id)]),
        ]),
      );
    }
    const rows = await query.orderBy("received_at").orderBy("id").limit(limit).execute();
    return rows.map((r) => toEventRecord(r as EventRow));
  }

  #eventsToReplay(selection: EventSelection) {
    let query = this.#db.selectFrom("events").where("status", "=", selection.status);
    if (selection.source) query = query.where("source", "=", selection.source);
    if (selection.receivedSince !== undefined) query = query.where("received_at", ">=", selection.receivedSince);
    if (selection.receivedBefore !== undefined) query = query.where("received_at", "<", selection.receivedBefore);
    return query;
  }

  async countRunsByStatus(filter: { integrationId?: string } = {}): Promise<Partial<Record<RunStatus, number>>> {
    let query = this.#db.selectFrom("runs").select(["status", (eb) => eb.fn.countAll<number>().as("count")]);
    if (filter.integrationId) query = query.where("integration_id", "=", filter.integrationId);
    const rows = await query.groupBy("status").execute();
    return Object.fromEntries(rows.map((r) => [r.status, Number(r.count)]));
  }

  async countEventsByStatus(): Promise<Partial<Record<EventStatus, number>>> {
    const rows = await this.#db
      .selectFrom("events")
      .select(["status", (eb) => eb.fn.countAll<number>().as("count")])
      .groupBy("status")
      .execute();
    return Object.fromEntries(rows.map((r) => [r.status, Number(r.count)]));
  }

  async getPollState(pollId: string): Promise<PollState | null> {
    const row = await this.#db.selectFrom("poll_sources").selectAll().where("id", "=", pollId).executeTakeFirst();
    return row ? toPollState(row as PollSourceRow) : null;
  }
}
