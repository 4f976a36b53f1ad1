import type Database from "better-sqlite3";
import {
  type DriftIncidentRow,
  type DriftShapeRow,
  incidentFilterSql,
  incidentFromRow,
  shapeFromRow,
} from "../drift-rows.ts";
import {
  type AcceptedShape,
  type DriftIncident,
  type DriftIncidentFilter,
  type DriftStore,
  maxDriftPage,
  type NewDriftIncident,
  readDriftCursor,
  type StoredDriftShape,
} from "../drift-store.ts";

/** Every drift query on SQLite, as SQL in full (a page of incidents adds its filter, see drift-rows.ts). */
export const sqliteDriftSql = {
  loadShapes: "SELECT * FROM drift_shapes",
  /** Not over a shape accepted since the learner read it: its generation moved on. */
  saveShape: `INSERT INTO drift_shapes (id, kind, subject, method, route_template, status, event_type, generation, baseline, updated_at)
    VALUES (@id, @kind, @subject, @method, @routeTemplate, @status, @eventType, @generation, @baseline, @updatedAt)
    ON CONFLICT (id) DO UPDATE SET baseline = excluded.baseline, updated_at = excluded.updated_at
    WHERE drift_shapes.generation = excluded.generation`,
  recordIncident: `INSERT INTO drift_incidents (id, shape_id, kind, subject, method, route_template, status, event_type,
      field_path, change, breaking, example, detected_at, last_seen_at, seen_count)
    VALUES (@id, @shapeId, @kind, @subject, @method, @routeTemplate, @status, @eventType,
      @fieldPath, @change, @breaking, @example, @at, @at, @seenCount)
    ON CONFLICT (shape_id, field_path, change) DO UPDATE SET
      seen_count = drift_incidents.seen_count + excluded.seen_count,
      last_seen_at = max(drift_incidents.last_seen_at, excluded.last_seen_at),
      breaking = max(drift_incidents.breaking, excluded.breaking),
      example = coalesce(excluded.example, drift_incidents.example)`,
  getIncident: "SELECT * FROM drift_incidents WHERE id = ?",
  acceptIncidents: `UPDATE drift_incidents SET accepted_at = @at, accepted_by = @acceptedBy
    WHERE shape_id = @shapeId AND accepted_at IS NULL`,
  relearnShape:
    "UPDATE drift_shapes SET generation = generation + 1, baseline = NULL, updated_at = @at WHERE id = @shapeId",
} as const;

type Statements = { [K in keyof typeof sqliteDriftSql]: Database.Statement };

/** Drift on SQLite: small batches in one immediate transaction each, not waited on to reach the disk (relearned if lost). */
export class SqliteDrift implements DriftStore {
  readonly #db: Database.Database;
  readonly #immediate: <T>(fn: () => T) => T;
  #statements: Statements | undefined;
  /** By filter: each shape of query is prepared once. */
  readonly #pages = new Map<string, Database.Statement>();

  constructor(db: Database.Database, transactions: { immediate: <T>(fn: () => T) => T }) {
    this.#db = db;
    this.#immediate = transactions.immediate;
  }

  /** Prepares the statements; called after migrations, when the tables exist. */
  prepare(): void {
    this.#statements = Object.fromEntries(
      Object.entries(sqliteDriftSql).map(([name, text]) => [name, this.#db.prepare(text)]),
    ) as Statements;
  }

  get #sql(): Statements {
    if (!this.#statements)
      throw new Error("storage used before migrate(): call storage.migrate() (engine.start() does)");
    return this.#statements;
  }

  async loadShapes(): Promise<StoredDriftShape[]> {
    return (this.#sql.loadShapes.all() as DriftShapeRow[]).map(shapeFromRow);
  }

  async saveShapes(shapes: StoredDriftShape[]): Promise<string[]> {
    const save = this.#sql.saveShape;
    return this.#immediate(() =>
      shapes
        .filter(
          (shape) =>
            save.run({ ...shape, baseline: shape.baseline === null ? null : JSON.stringify(shape.baseline) })
              .changes === 0,
        )
        .map((shape) => shape.id),
    );
  }

  async recordIncidents(incidents: NewDriftIncident[]): Promise<void> {
    const record = this.#sql.recordIncident;
    this.#immediate(() => {
      for (const incident of incidents) record.run({ ...incident, breaking: incident.breaking ? 1 : 0 });
    });
  }

  async listIncidents(filter: DriftIncidentFilter = {}): Promise<DriftIncident[]> {
    const after = filter.cursor === undefined ? undefined : readDriftCursor(filter.cursor);
    const { where, params } = incidentFilterSql({ ...filter, ...(after ? { after } : {}) }, () => "?");
    const text = `SELECT * FROM drift_incidents ${where} ORDER BY detected_at DESC, id DESC LIMIT ?`;
    let page = this.#pages.get(text);
    if (!page) {
      page = this.#db.prepare(text);
      this.#pages.set(text, page);
    }
    const limit = Math.min(filter.limit ?? 50, maxDriftPage);
    return (page.all(...params, limit) as DriftIncidentRow[]).map(incidentFromRow);
  }

  async getIncident(id: string): Promise<DriftIncident | undefined> {
    const row = this.#sql.getIncident.get(id) as DriftIncidentRow | undefined;
    return row ? incidentFromRow(row) : undefined;
  }

  async acceptShape(input: { incidentId: string; acceptedBy: string; at: number }): Promise<AcceptedShape | undefined> {
    return this.#immediate(() => {
      const row = this.#sql.getIncident.get(input.incidentId) as DriftIncidentRow | undefined;
      if (!row) return undefined;
      const shapeId = row.shape_id;
      const accepted = this.#sql.acceptIncidents.run({ shapeId, at: input.at, acceptedBy: input.acceptedBy }).changes;
      this.#sql.relearnShape.run({ shapeId, at: input.at });
      return { shapeId, accepted };
    });
  }
}
