import { type Kysely, sql } from "kysely";
import type { ConnectionIncident } from "./connection-store.ts";
import { type DriftIncidentRow, incidentFromRow } from "./drift-rows.ts";
import type { DriftIncident } from "./drift-store.ts";
import { claimMaintenanceLease, releaseMaintenanceLease } from "./maintenance-lease-queries.ts";
import type {
  EndedRun,
  FailedDelivery,
  OccurrenceSource,
  OperationalWebhookStore,
  SourceCursor,
  SourcePosition,
  SubscriberHealth,
} from "./operational-webhook-store.ts";

interface HealthRow {
  name: string;
  consecutive_failures: number | string;
  failing_since: number | string | null;
  last_failed_at: number | string | null;
  last_success_at: number | string | null;
  disabled_at: number | string | null;
  disabled_reason: string | null;
  enabled_at: number | string | null;
  skipped: number | string;
}

const nullableNumber = (value: number | string | null): number | null => (value === null ? null : Number(value));

function toHealth(row: HealthRow): SubscriberHealth {
  return {
    name: row.name,
    consecutiveFailures: Number(row.consecutive_failures),
    failingSince: nullableNumber(row.failing_since),
    lastFailedAt: nullableNumber(row.last_failed_at),
    lastSuccessAt: nullableNumber(row.last_success_at),
    disabledAt: nullableNumber(row.disabled_at),
    disabledReason: row.disabled_reason,
    enabledAt: nullableNumber(row.enabled_at),
    skipped: Number(row.skipped),
  };
}

const leaseName = "operational-webhooks";

/**
 * Operational webhooks' reads and writes, the same on both backends (Kysely speaks each dialect); every write
 * is one statement, so none needs a transaction. Off the hot path: the pump runs every few seconds in one
 * worker, and a delivery run notes its success once. Sources are read oldest first through an index each:
 * ended runs through runs_finished, connection incidents through connection_incidents_at (migration 016),
 * drift incidents through drift_incidents_detected.
 */
export class OperationalWebhookQueries implements OperationalWebhookStore {
  // biome-ignore lint/suspicious/noExplicitAny: rows are typed by the mappers above
  readonly #db: Kysely<any>;

  constructor(db: Kysely<unknown>) {
    this.#db = db;
  }

  claimPump(owner: string, now: number, until: number): Promise<boolean> {
    return claimMaintenanceLease(this.#db, { name: leaseName, owner, now, until });
  }

  releasePump(owner: string): Promise<void> {
    return releaseMaintenanceLease(this.#db, leaseName, owner);
  }

  async getCursor(source: OccurrenceSource): Promise<SourceCursor | null> {
    const row = await this.#db
      .selectFrom("operational_webhook_cursors")
      .select(["after_at", "after_seq", "after_id", "version"])
      .where("source", "=", source)
      .executeTakeFirst();
    if (!row) return null;
    return {
      position: { at: Number(row.after_at), seq: Number(row.after_seq), id: row.after_id },
      version: Number(row.version),
    };
  }

  async startCursor(source: OccurrenceSource, position: SourcePosition, now: number): Promise<void> {
    await this.#db
      .insertInto("operational_webhook_cursors")
      .values({ source, ...positionColumns(position), version: 1, updated_at: now })
      .onConflict((oc) => oc.column("source").doNothing())
      .execute();
  }

  async moveCursor(source: OccurrenceSource, version: number, position: SourcePosition, now: number): Promise<boolean> {
    const result = await this.#db
      .updateTable("operational_webhook_cursors")
      .set({ ...positionColumns(position), version: version + 1, updated_at: now })
      .where("source", "=", source)
      .where("version", "=", version)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async listEndedRuns(after: SourcePosition, upTo: number, limit: number): Promise<EndedRun[]> {
    const rows = await this.#db
      .selectFrom("runs")
      .select(["seq", "id", "integration_id", "event_id", "status", "last_error", "created_at", "finished_at"])
      .where("status", "in", ["dead", "failed"])
      .where("finished_at", "<=", upTo)
      .where((eb) => eb(eb.refTuple("finished_at", "seq"), ">", eb.tuple(after.at, after.seq)))
      .orderBy("finished_at")
      .orderBy("seq")
      .limit(limit)
      .execute();
    return rows.map((r) => ({
      position: { at: Number(r.finished_at), seq: Number(r.seq), id: "" },
      id: r.id,
      integrationId: r.integration_id,
      eventId: r.event_id,
      status: r.status,
      lastError: r.last_error,
      createdAt: Number(r.created_at),
      finishedAt: Number(r.finished_at),
    }));
  }

  async listConnectionIncidents(
    after: SourcePosition,
    upTo: number,
    kinds: readonly ConnectionIncident["kind"][],
    limit: number,
  ): Promise<(ConnectionIncident & { position: SourcePosition })[]> {
    if (kinds.length === 0) return [];
    const rows = await this.#db
      .selectFrom("connection_incidents")
      .select(["id", "connection_id", "kind", "detail", "at"])
      .where("kind", "in", kinds)
      .where("at", "<=", upTo)
      .where((eb) => eb(eb.refTuple("at", "id"), ">", eb.tuple(after.at, after.id)))
      .orderBy("at")
      .orderBy("id")
      .limit(limit)
      .execute();
    return rows.map((r) => ({
      position: { at: Number(r.at), seq: 0, id: r.id },
      id: r.id,
      connectionId: r.connection_id,
      kind: r.kind,
      detail: r.detail,
      at: Number(r.at),
    }));
  }

  async listDriftIncidents(
    after: SourcePosition,
    upTo: number,
    limit: number,
  ): Promise<(DriftIncident & { position: SourcePosition })[]> {
    const rows = (await this.#db
      .selectFrom("drift_incidents")
      .selectAll()
      .where("detected_at", "<=", upTo)
      .where((eb) => eb(eb.refTuple("detected_at", "id"), ">", eb.tuple(after.at, after.id)))
      .orderBy("detected_at")
      .orderBy("id")
      .limit(limit)
      .execute()) as DriftIncidentRow[];
    return rows.map((row) => {
      const incident = incidentFromRow(row);
      return { ...incident, position: { at: incident.detectedAt, seq: 0, id: incident.id } };
    });
  }

  async listSubscriberHealth(): Promise<SubscriberHealth[]> {
    const rows = (await this.#db
      .selectFrom("operational_webhooks")
      .selectAll()
      .orderBy("name")
      .execute()) as HealthRow[];
    return rows.map(toHealth);
  }

  async getSubscriberHealth(name: string): Promise<SubscriberHealth | null> {
    const row = (await this.#db
      .selectFrom("operational_webhooks")
      .selectAll()
      .where("name", "=", name)
      .executeTakeFirst()) as HealthRow | undefined;
    return row ? toHealth(row) : null;
  }

  async recordDeliveryFailure(name: string, failure: FailedDelivery): Promise<void> {
    const { createdAt, finishedAt, seq } = failure;
    await this.#ensureRow(name);
    await this.#db
      .updateTable("operational_webhooks")
      .set({
        consecutive_failures: sql`consecutive_failures + 1`,
        // Failing since its first attempt, but not before the last sign of life (a success, an enable).
        failing_since: sql`COALESCE(failing_since, CASE
          WHEN last_success_at > ${createdAt} THEN last_success_at
          WHEN enabled_at > ${createdAt} THEN enabled_at
          ELSE ${createdAt} END)`,
        last_failed_at: finishedAt,
        last_failed_seq: seq,
      })
      .where("name", "=", name)
      .where((eb) =>
        eb.or([
          eb("last_failed_at", "is", null),
          eb(eb.refTuple("last_failed_at", "last_failed_seq"), "<", eb.tuple(finishedAt, seq)),
        ]),
      )
      .where((eb) => eb.or([eb("last_success_at", "is", null), eb("last_success_at", "<", finishedAt)]))
      .where((eb) => eb.or([eb("enabled_at", "is", null), eb("enabled_at", "<", finishedAt)]))
      .execute();
  }

  async recordDeliverySuccess(name: string, at: number): Promise<void> {
    await this.#ensureRow(name);
    // A failure that ended after this success (the pump counted it first) stays counted.
    const failedBefore = sql<boolean>`(last_failed_at IS NULL OR last_failed_at <= ${at})`;
    await this.#db
      .updateTable("operational_webhooks")
      .set({
        last_success_at: at,
        consecutive_failures: sql`CASE WHEN ${failedBefore} THEN 0 ELSE consecutive_failures END`,
        failing_since: sql`CASE WHEN ${failedBefore} THEN NULL ELSE failing_since END`,
      })
      .where("name", "=", name)
      .where((eb) => eb.or([eb("last_success_at", "is", null), eb("last_success_at", "<", at)]))
      .execute();
  }

  async disableSubscriber(name: string, failingSince: number, at: number, reason: string): Promise<boolean> {
    const result = await this.#db
      .updateTable("operational_webhooks")
      .set({ disabled_at: at, disabled_reason: reason })
      .where("name", "=", name)
      .where("disabled_at", "is", null)
      .where("failing_since", "=", failingSince)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async enableSubscriber(name: string, at: number): Promise<SubscriberHealth> {
    await this.#ensureRow(name);
    const row = (await this.#db
      .updateTable("operational_webhooks")
      .set({
        disabled_at: null,
        disabled_reason: null,
        failing_since: null,
        consecutive_failures: 0,
        enabled_at: at,
      })
      .where("name", "=", name)
      .returningAll()
      .executeTakeFirstOrThrow()) as HealthRow;
    return toHealth(row);
  }

  async addSkipped(name: string, count: number): Promise<void> {
    if (count <= 0) return;
    await this.#db
      .insertInto("operational_webhooks")
      .values({ name, skipped: count })
      .onConflict((oc) => oc.column("name").doUpdateSet({ skipped: sql`operational_webhooks.skipped + ${count}` }))
      .execute();
  }

  async #ensureRow(name: string): Promise<void> {
    await this.#db
      .insertInto("operational_webhooks")
      .values({ name })
      .onConflict((oc) => oc.column("name").doNothing())
      .execute();
  }
}

function positionColumns(position: SourcePosition) {
  return { after_at: position.at, after_seq: position.seq, after_id: position.id };
}
