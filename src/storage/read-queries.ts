import type { Kysely } from "kysely";
import type {
  EventFilter,
  EventRecord,
  EventStatus,
  PollState,
  RunFilter,
  RunRecord,
  RunStatus,
  StepRecord,
} from "./contract.ts";
import {
  type EventRow,
  type PollSourceRow,
  type RunRow,
  type StepRow,
  toEventRecord,
  toPollState,
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
    const rows = await query
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
