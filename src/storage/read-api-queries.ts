import { type Kysely, sql } from "kysely";
import type { EventRecord, RunRecord } from "./contract.ts";
import { errorContains } from "./error-contains.ts";
import {
  backlogStatuses,
  type ConnectionRunActivity,
  countCap,
  durationSample,
  type EventPageFilter,
  type EventPosition,
  type ExchangeError,
  type ExchangeOutcome,
  endedStatuses,
  type IntegrationFacts,
  type Page,
  type ReadApiStore,
  type RunPageFilter,
  type RunPosition,
  type Throughput,
} from "./read-api-store.ts";
import { type EventRow, type RunRow, toEventRecord, toRunRecord } from "./rows.ts";

/**
 * The read API's queries, the same on both backends (Kysely speaks each dialect). Newest first everywhere, so
 * each ORDER BY runs down one of migration 009's indexes backwards and stops after `limit + 1` rows: the extra row
 * says whether a next page exists without counting.
 */
export class ReadApiQueries implements ReadApiStore {
  // biome-ignore lint/suspicious/noExplicitAny: rows are typed by the mappers in rows.ts
  readonly #db: Kysely<any>;

  constructor(db: Kysely<unknown>) {
    this.#db = db;
  }

  async pageRuns(
    filter: RunPageFilter,
    after: RunPosition | null,
    limit: number,
  ): Promise<Page<RunRecord, RunPosition>> {
    let query = this.#db.selectFrom("runs").selectAll();
    if (filter.status) query = query.where("status", "=", filter.status);
    if (filter.integrationId) query = query.where("integration_id", "=", filter.integrationId);
    if (filter.errorContains) query = query.where(errorContains(filter.errorContains));
    if (filter.since !== undefined) query = query.where("created_at", ">=", filter.since);
    if (filter.until !== undefined) query = query.where("created_at", "<", filter.until);
    if (filter.runIds) query = query.where("id", "in", filter.runIds);
    if (after) {
      query = query.where((eb) => eb(eb.refTuple("created_at", "seq"), "<", eb.tuple(after.createdAt, after.seq)));
    }
    const rows = (await query
      .orderBy("created_at", "desc")
      .orderBy("seq", "desc")
      .limit(limit + 1)
      .execute()) as (RunRow & { seq: number })[];
    const items = rows.slice(0, limit);
    const last = items[items.length - 1];
    const next = rows.length > limit && last ? { createdAt: Number(last.created_at), seq: Number(last.seq) } : null;
    return { items: items.map(toRunRecord), next };
  }

  async pageEvents(
    filter: EventPageFilter,
    after: EventPosition | null,
    limit: number,
  ): Promise<Page<EventRecord, EventPosition>> {
    let query = this.#db.selectFrom("events").selectAll();
    if (filter.status) query = query.where("status", "=", filter.status);
    if (filter.source) query = query.where("source", "=", filter.source);
    if (filter.type) query = query.where("type", "=", filter.type);
    if (filter.since !== undefined) query = query.where("received_at", ">=", filter.since);
    if (filter.until !== undefined) query = query.where("received_at", "<", filter.until);
    if (after) {
      query = query.where((eb) => eb(eb.refTuple("received_at", "id"), "<", eb.tuple(after.receivedAt, after.id)));
    }
    const rows = (await query
      .orderBy("received_at", "desc")
      .orderBy("id", "desc")
      .limit(limit + 1)
      .execute()) as EventRow[];
    const items = rows.slice(0, limit);
    const last = items[items.length - 1];
    const next = rows.length > limit && last ? { receivedAt: Number(last.received_at), id: last.id } : null;
    return { items: items.map(toEventRecord), next };
  }

  async integrationFacts(integrationId: string, now: number, windowMs: number): Promise<IntegrationFacts> {
    const since = now - windowMs;
    const runs = () => this.#db.selectFrom("runs").where("integration_id", "=", integrationId);
    const newest = (status: string) =>
      runs().where("status", "=", status).orderBy("created_at", "desc").orderBy("seq", "desc").limit(1);
    const [backlogRows, endedCounts, durations, success, failed, dead, queued] = await Promise.all([
      runs()
        .where("status", "in", [...backlogStatuses])
        .select(["status", (eb) => eb.fn.countAll<number>().as("count")])
        .groupBy("status")
        .execute(),
      Promise.all(endedStatuses.map((status) => this.#cappedCount(integrationId, status, since))),
      runs()
        .where("status", "=", "succeeded")
        .where("created_at", ">=", since)
        .select(["started_at", "finished_at"])
        .orderBy("created_at", "desc")
        .orderBy("seq", "desc")
        .limit(durationSample)
        .execute(),
      newest("succeeded").select(["id", "finished_at"]).executeTakeFirst(),
      newest("failed").select(["id", "finished_at", "last_error"]).executeTakeFirst(),
      newest("dead").select(["id", "finished_at", "last_error"]).executeTakeFirst(),
      runs()
        .where("status", "=", "queued")
        .select(["id", "created_at"])
        .orderBy("created_at")
        .orderBy("seq")
        .limit(1)
        .executeTakeFirst(),
    ]);
    const [succeeded = 0, failedCount = 0, deadCount = 0] = endedCounts;
    const failures = [
      failed && { row: failed, status: "failed" as const },
      dead && { row: dead, status: "dead" as const },
    ].filter((f) => !!f);
    failures.sort((a, b) => Number(b.row.finished_at ?? 0) - Number(a.row.finished_at ?? 0));
    const latestFailure = failures[0];
    return {
      backlog: Object.fromEntries(backlogRows.map((r) => [r.status, Number(r.count)])),
      ended: { succeeded, failed: failedCount, dead: deadCount },
      capped: endedCounts.some((count) => count >= countCap),
      durationsMs: durations
        .filter((r) => r.started_at !== null && r.finished_at !== null)
        .map((r) => Number(r.finished_at) - Number(r.started_at)),
      lastSuccess: success ? { at: Number(success.finished_at), runId: success.id } : null,
      lastFailure: latestFailure
        ? {
            at: Number(latestFailure.row.finished_at),
            runId: latestFailure.row.id,
            status: latestFailure.status,
            error: latestFailure.row.last_error,
          }
        : null,
      oldestQueued: queued ? { createdAt: Number(queued.created_at), runId: queued.id } : null,
    };
  }

  /** How many runs of the integration created since `since` are in `status`, counting no further than the cap. */
  async #cappedCount(integrationId: string, status: string, since: number): Promise<number> {
    const row = await this.#db
      .selectFrom((db) =>
        db
          .selectFrom("runs")
          .select("seq")
          .where("integration_id", "=", integrationId)
          .where("status", "=", status)
          .where("created_at", ">=", since)
          .limit(countCap)
          .as("window"),
      )
      .select((eb) => eb.fn.countAll<number>().as("count"))
      .executeTakeFirst();
    return Number(row?.count ?? 0);
  }

  async lastEventAt(source: string): Promise<number | null> {
    const row = await this.#db
      .selectFrom("events")
      .select("received_at")
      .where("source", "=", source)
      .orderBy("received_at", "desc")
      .limit(1)
      .executeTakeFirst();
    return row ? Number(row.received_at) : null;
  }

  async throughput(since: number, until: number, bucketMs: number): Promise<Throughput> {
    const starts: number[] = [];
    for (let at = since; at < until; at += bucketMs) starts.push(at);
    const next = await this.#db
      .selectFrom("runs")
      .select((eb) => eb.fn.max("seq").as("seq"))
      .executeTakeFirst();
    const end = Number(next?.seq ?? 0) + 1;
    // The seq of the first run created at or after each boundary (the window's end included): the runs between
    // two boundaries are the difference.
    const firstSeqs = await Promise.all(
      [...starts, until].map(async (boundary) => {
        const row = await this.#db
          .selectFrom("runs")
          .select("seq")
          .where("created_at", ">=", boundary)
          .orderBy("created_at")
          .orderBy("seq")
          .limit(1)
          .executeTakeFirst();
        return row ? Number(row.seq) : end;
      }),
    );
    const buckets = starts.map((at, i) => ({
      at,
      created: Math.max(0, (firstSeqs[i + 1] ?? end) - (firstSeqs[i] ?? end)),
      failed: 0,
      dead: 0,
    }));
    const ended = (await this.#db
      .selectFrom("runs")
      .select(["status", "finished_at"])
      .where("status", "in", ["failed", "dead"])
      .where("finished_at", "is not", null)
      .where("finished_at", ">=", since)
      .where("finished_at", "<", until)
      .limit(countCap)
      .execute()) as { status: "failed" | "dead"; finished_at: number }[];
    for (const run of ended) {
      const bucket = buckets[Math.floor((Number(run.finished_at) - since) / bucketMs)];
      if (bucket) bucket[run.status] += 1;
    }
    return { bucketMs, buckets, capped: ended.length >= countCap };
  }

  async lastExchangeError(connectionId: string, lookback: number): Promise<ExchangeError | null> {
    const row = await this.#db
      .selectFrom((db) =>
        db
          .selectFrom("audit_log")
          .select(["at", "status", "error", "method", "url"])
          .where("connection_id", "=", connectionId)
          .orderBy("at", "desc")
          .limit(lookback)
          .as("recent"),
      )
      .selectAll()
      .where((eb) => eb.or([eb("status", "is", null), eb("status", ">=", 400)]))
      .orderBy("at", "desc")
      .limit(1)
      .executeTakeFirst();
    if (!row) return null;
    return { at: Number(row.at), status: row.status, error: row.error, method: row.method, url: row.url };
  }

  async recentExchangeOutcomes(connectionId: string, lookback: number): Promise<ExchangeOutcome[]> {
    // Down audit_log_connection (connection_id, at) backwards: `lookback` index entries, however long the trail.
    const rows = await this.#db
      .selectFrom("audit_log")
      .select(["at", "status"])
      .where("connection_id", "=", connectionId)
      .orderBy("at", "desc")
      .limit(lookback)
      .execute();
    return rows.map((row) => ({ at: Number(row.at), status: row.status === null ? null : Number(row.status) }));
  }

  async connectionRunActivity(connectionId: string, since: number, cap: number): Promise<ConnectionRunActivity> {
    const history = () => this.#db.selectFrom("run_history").where("connection_id", "=", connectionId);
    // runs_waiting_on holds exactly the paused and waiting runs; run_history_connection (migration 020) the
    // history rows that name a connection, so each of these is a short index walk.
    const [held, recent, lastWait, lastResume] = await Promise.all([
      this.#db
        .selectFrom("runs")
        .select(["status", (eb) => eb.fn.countAll().as("count")])
        .where("waiting_on", "=", connectionId)
        // Literals, as in the index's own condition: SQLite proves a partial index usable only from those.
        .where(sql<boolean>`status in ('paused', 'waiting')`)
        .groupBy("status")
        .execute(),
      this.#db
        .selectFrom(history().select("kind").where("at", ">=", since).orderBy("at", "desc").limit(cap).as("recent"))
        .select(["kind", (eb) => eb.fn.countAll().as("count")])
        .groupBy("kind")
        .execute(),
      history()
        .select(["run_id", "at", "until_at", "detail"])
        .where("kind", "=", "wait")
        .orderBy("at", "desc")
        .limit(1)
        .executeTakeFirst(),
      history().select(["at", "detail"]).where("kind", "=", "resume").orderBy("at", "desc").limit(1).executeTakeFirst(),
    ]);
    // One resume resumes every held run in one transaction, at one instant: its rows share their `at`.
    const resumed = lastResume
      ? await history()
          .select((eb) => eb.fn.countAll().as("count"))
          .where("kind", "=", "resume")
          .where("at", "=", lastResume.at)
          .executeTakeFirstOrThrow()
      : null;
    const heldCount = (status: string) => Number(held.find((row) => row.status === status)?.count ?? 0);
    const recentCount = (kind: string) => Number(recent.find((row) => row.kind === kind)?.count ?? 0);
    const total = recent.reduce((sum, row) => sum + Number(row.count), 0);
    return {
      held: { waiting: heldCount("waiting"), paused: heldCount("paused") },
      recent: {
        waits: recentCount("wait"),
        pauses: recentCount("pause"),
        resumes: recentCount("resume"),
        capped: total >= cap,
      },
      lastWait: lastWait
        ? {
            runId: lastWait.run_id,
            at: Number(lastWait.at),
            until: lastWait.until_at === null ? null : Number(lastWait.until_at),
            reason: lastWait.detail,
          }
        : null,
      lastResume:
        lastResume && resumed
          ? { at: Number(lastResume.at), reason: lastResume.detail, runs: Number(resumed.count) }
          : null,
    };
  }
}
