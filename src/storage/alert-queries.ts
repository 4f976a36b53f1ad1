import { type Kysely, sql } from "kysely";
import type {
  AlertRecord,
  AlertStatus,
  AlertStore,
  EndedRunCount,
  HeldRunCount,
  NotificationDelivery,
} from "./alert-store.ts";
import { claimMaintenanceLease, releaseMaintenanceLease } from "./maintenance-lease-queries.ts";

interface AlertRow {
  fingerprint: string;
  rule: string;
  subject: string;
  severity: string;
  summary: string;
  labels: string;
  status: string;
  episode: number;
  count: number | string;
  first_seen_at: number | string;
  last_seen_at: number | string;
  cleared_since: number | string | null;
  resolved_at: number | string | null;
  notifications: number;
  notified_at: number | string | null;
  acked_at: number | string | null;
  acked_by: string | null;
  snoozed_until: number | string | null;
}

const nullableNumber = (value: number | string | null): number | null => (value === null ? null : Number(value));

function toAlertRecord(row: AlertRow): AlertRecord {
  return {
    fingerprint: row.fingerprint,
    rule: row.rule,
    subject: row.subject,
    severity: row.severity as AlertRecord["severity"],
    summary: row.summary,
    labels: JSON.parse(row.labels) as Record<string, string>,
    status: row.status as AlertStatus,
    episode: Number(row.episode),
    count: Number(row.count),
    firstSeenAt: Number(row.first_seen_at),
    lastSeenAt: Number(row.last_seen_at),
    clearedSince: nullableNumber(row.cleared_since),
    resolvedAt: nullableNumber(row.resolved_at),
    notifications: Number(row.notifications),
    notifiedAt: nullableNumber(row.notified_at),
    ackedAt: nullableNumber(row.acked_at),
    ackedBy: row.acked_by,
    snoozedUntil: nullableNumber(row.snoozed_until),
  };
}

/**
 * Alerting's reads and writes, the same on both backends (Kysely speaks each dialect). Off the hot path: the
 * evaluator runs every few seconds in one worker. Each fact is one indexed query: ended runs walk
 * runs_finished, held runs runs_status_created, quarantined events events_status. A source's newest event is
 * the read API's (`storage.readApi.lastEventAt`).
 */
export class AlertQueries implements AlertStore {
  // biome-ignore lint/suspicious/noExplicitAny: rows are typed by the mappers above
  readonly #db: Kysely<any>;

  constructor(db: Kysely<unknown>) {
    this.#db = db;
  }

  claimEvaluation(owner: string, now: number, until: number): Promise<boolean> {
    return claimMaintenanceLease(this.#db, { name: "alerts", owner, now, until });
  }

  releaseEvaluation(owner: string): Promise<void> {
    return releaseMaintenanceLease(this.#db, "alerts", owner);
  }

  async listAlerts(filter: { status?: AlertStatus; limit?: number } = {}): Promise<AlertRecord[]> {
    let query = this.#db.selectFrom("alerts").selectAll();
    if (filter.status) query = query.where("status", "=", filter.status);
    const rows = (await query
      .orderBy("last_seen_at", "desc")
      .orderBy("fingerprint")
      .limit(filter.limit ?? 100)
      .execute()) as AlertRow[];
    return rows.map(toAlertRecord);
  }

  async getAlert(fingerprint: string): Promise<AlertRecord | null> {
    const row = (await this.#db
      .selectFrom("alerts")
      .selectAll()
      .where("fingerprint", "=", fingerprint)
      .executeTakeFirst()) as AlertRow | undefined;
    return row ? toAlertRecord(row) : null;
  }

  async saveAlert(alert: AlertRecord, options: { newEpisode: boolean }): Promise<void> {
    const evaluated = {
      rule: alert.rule,
      subject: alert.subject,
      severity: alert.severity,
      summary: alert.summary,
      labels: JSON.stringify(alert.labels),
      status: alert.status,
      episode: alert.episode,
      count: alert.count,
      first_seen_at: alert.firstSeenAt,
      last_seen_at: alert.lastSeenAt,
      cleared_since: alert.clearedSince,
      resolved_at: alert.resolvedAt,
      notifications: alert.notifications,
      notified_at: alert.notifiedAt,
    };
    const operators = { acked_at: null, acked_by: null, snoozed_until: null };
    await this.#db
      .insertInto("alerts")
      .values({ fingerprint: alert.fingerprint, ...evaluated, ...operators })
      .onConflict((oc) =>
        oc.column("fingerprint").doUpdateSet(options.newEpisode ? { ...evaluated, ...operators } : evaluated),
      )
      .execute();
  }

  async ackAlert(fingerprint: string, by: string, now: number): Promise<AlertRecord | null> {
    const row = (await this.#db
      .updateTable("alerts")
      .set({ acked_at: now, acked_by: by })
      .where("fingerprint", "=", fingerprint)
      .where("status", "=", "firing")
      .returningAll()
      .executeTakeFirst()) as AlertRow | undefined;
    return row ? toAlertRecord(row) : null;
  }

  async snoozeAlert(fingerprint: string, until: number): Promise<AlertRecord | null> {
    const row = (await this.#db
      .updateTable("alerts")
      .set({ snoozed_until: until })
      .where("fingerprint", "=", fingerprint)
      .where("status", "=", "firing")
      .returningAll()
      .executeTakeFirst()) as AlertRow | undefined;
    return row ? toAlertRecord(row) : null;
  }

  async listNotificationDeliveries(source: string, limit: number): Promise<NotificationDelivery[]> {
    // The newest events of the source down events_source_received, then each one's runs by runs_event.
    const rows = await this.#db
      .selectFrom((db) =>
        db
          .selectFrom("events")
          .select(["id", "type", "payload", "received_at"])
          .where("source", "=", source)
          .orderBy("received_at", "desc")
          .orderBy("id", "desc")
          .limit(limit)
          .as("e"),
      )
      .leftJoin("runs as r", "r.event_id", "e.id")
      .select([
        "e.id as event_id",
        "e.type",
        "e.payload",
        "e.received_at",
        "r.id as run_id",
        "r.status",
        "r.failures",
        "r.last_error",
        "r.available_at",
        "r.finished_at",
        "r.created_at",
        "r.seq",
        // A failed attempt of a step is counted on the step (steps_pk), one outside any step on the run.
        sql<number>`(SELECT COALESCE(SUM(failures), 0) FROM steps WHERE steps.run_id = r.id)`.as("step_failures"),
      ])
      .orderBy("e.received_at", "desc")
      .orderBy("e.id", "desc")
      .execute();
    const deliveries = new Map<string, NotificationDelivery & { runOrder: [number, number] }>();
    for (const row of rows) {
      const runOrder: [number, number] = [Number(row.created_at ?? 0), Number(row.seq ?? 0)];
      const known = deliveries.get(row.event_id);
      const newer =
        !known ||
        runOrder[0] > known.runOrder[0] ||
        (runOrder[0] === known.runOrder[0] && runOrder[1] > known.runOrder[1]);
      if (!newer) continue;
      deliveries.set(row.event_id, {
        eventId: row.event_id,
        type: row.type,
        payload: row.payload,
        receivedAt: Number(row.received_at),
        run:
          row.run_id === null
            ? null
            : {
                id: row.run_id,
                status: row.status,
                failedAttempts: Number(row.failures) + Number(row.step_failures ?? 0),
                lastError: row.last_error,
                availableAt: Number(row.available_at),
                finishedAt: nullableNumber(row.finished_at),
              },
        runOrder,
      });
    }
    return [...deliveries.values()].map(({ runOrder: _order, ...delivery }) => delivery);
  }

  async countEndedRuns(since: number): Promise<EndedRunCount[]> {
    const rows = await this.#db
      .selectFrom("runs")
      .select((eb) => [
        "integration_id",
        "status",
        eb.fn.countAll().as("count"),
        eb.fn.max("finished_at").as("last_finished_at"),
      ])
      .where("status", "in", ["succeeded", "failed", "dead"])
      .where("finished_at", ">=", since)
      .groupBy(["integration_id", "status"])
      .execute();
    return rows.map((r) => ({
      integrationId: r.integration_id,
      status: r.status,
      count: Number(r.count),
      lastFinishedAt: Number(r.last_finished_at),
    }));
  }

  async lastEndedStatuses(integrationId: string, limit: number): Promise<string[]> {
    const rows = await this.#db
      .selectFrom("runs")
      .select("status")
      .where("integration_id", "=", integrationId)
      .where("status", "in", ["succeeded", "failed", "dead"])
      .orderBy("created_at", "desc")
      .orderBy("seq", "desc")
      .limit(limit)
      .execute();
    return rows.map((r) => r.status as string);
  }

  async countHeldRuns(status: "waiting" | "paused", before: number): Promise<HeldRunCount[]> {
    const rows = await this.#db
      .selectFrom("runs")
      .select((eb) => [
        "integration_id",
        "waiting_on",
        eb.fn.countAll().as("count"),
        eb.fn.min("updated_at").as("since"),
      ])
      .where("status", "=", status)
      .where("updated_at", "<", before)
      .groupBy(["integration_id", "waiting_on"])
      .execute();
    return rows.map((r) => ({
      integrationId: r.integration_id,
      connectionId: r.waiting_on,
      count: Number(r.count),
      heldSince: Number(r.since),
    }));
  }

  async countQuarantinedEvents(since: number): Promise<{ source: string; count: number; lastReceivedAt: number }[]> {
    const rows = await this.#db
      .selectFrom("events")
      .select((eb) => ["source", eb.fn.countAll().as("count"), eb.fn.max("received_at").as("last")])
      .where("status", "=", "quarantined")
      .where("received_at", ">=", since)
      .groupBy("source")
      .execute();
    return rows.map((r) => ({ source: r.source, count: Number(r.count), lastReceivedAt: Number(r.last) }));
  }

  async countFailingRuns(integrationId: string, since: number): Promise<{ retrying: number; dead: number }> {
    const rows = await this.#db
      .selectFrom("runs")
      .select((eb) => ["status", eb.fn.countAll().as("count")])
      .where("integration_id", "=", integrationId)
      .where((eb) =>
        eb.or([
          // After a failed attempt: retrying, or being tried again right now (its last error is kept until it succeeds).
          eb.and([eb("status", "in", ["retrying", "running"]), eb("last_error", "is not", null)]),
          eb.and([eb("status", "=", "dead"), eb("finished_at", ">=", since)]),
        ]),
      )
      .groupBy("status")
      .execute();
    const count = (status: string) => Number(rows.find((r) => r.status === status)?.count ?? 0);
    return { retrying: count("retrying") + count("running"), dead: count("dead") };
  }
}
