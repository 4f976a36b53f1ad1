import type pg from "pg";
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

/** Every drift query on PostgreSQL, as SQL in full (a page of incidents adds its filter, see drift-rows.ts). */
export const postgresDriftSql = {
  loadShapes: "SELECT * FROM drift_shapes",
  /**
   * A batch in one round trip. Not over a shape accepted since the learner read it (its generation moved on):
   * the ids written come back, and the others are the stale ones.
   */
  saveShapes: `INSERT INTO drift_shapes (id, kind, subject, method, route_template, status, event_type, generation, baseline, updated_at)
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::integer[], $7::text[],
      $8::integer[], $9::text[], $10::bigint[])
    ON CONFLICT (id) DO UPDATE SET baseline = excluded.baseline, updated_at = excluded.updated_at
    WHERE drift_shapes.generation = excluded.generation
    RETURNING id`,
  recordIncidents: `INSERT INTO drift_incidents AS d (id, shape_id, kind, subject, method, route_template, status, event_type,
      field_path, change, breaking, example, detected_at, last_seen_at, seen_count)
    SELECT id, shape_id, kind, subject, method, route_template, status, event_type, field_path, change, breaking,
      example, at, at, seen_count
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::integer[], $8::text[],
      $9::text[], $10::text[], $11::integer[], $12::text[], $13::bigint[], $14::bigint[])
      AS i (id, shape_id, kind, subject, method, route_template, status, event_type, field_path, change, breaking,
        example, at, seen_count)
    ON CONFLICT (shape_id, field_path, change) DO UPDATE SET
      seen_count = d.seen_count + excluded.seen_count,
      last_seen_at = GREATEST(d.last_seen_at, excluded.last_seen_at),
      breaking = GREATEST(d.breaking, excluded.breaking),
      example = COALESCE(excluded.example, d.example)`,
  getIncident: "SELECT * FROM drift_incidents WHERE id = $1",
  /** The shape's open incidents accepted and its baseline dropped, in one statement. */
  acceptShape: `WITH incident AS (SELECT shape_id FROM drift_incidents WHERE id = $1),
    accepted AS (
      UPDATE drift_incidents SET accepted_at = $2, accepted_by = $3
      WHERE shape_id = (SELECT shape_id FROM incident) AND accepted_at IS NULL RETURNING 1),
    relearned AS (
      UPDATE drift_shapes SET generation = generation + 1, baseline = NULL, updated_at = $2
      WHERE id = (SELECT shape_id FROM incident))
    SELECT (SELECT shape_id FROM incident) AS shape_id, (SELECT count(*) FROM accepted)::integer AS accepted`,
} as const;

/** Drift on PostgreSQL: each batch is one statement, from the pool. */
export class PostgresDrift implements DriftStore {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async loadShapes(): Promise<StoredDriftShape[]> {
    const { rows } = await this.#pool.query<DriftShapeRow>(postgresDriftSql.loadShapes);
    return rows.map(shapeFromRow);
  }

  async saveShapes(shapes: StoredDriftShape[]): Promise<string[]> {
    if (shapes.length === 0) return [];
    const { rows } = await this.#pool.query<{ id: string }>(postgresDriftSql.saveShapes, [
      shapes.map((s) => s.id),
      shapes.map((s) => s.kind),
      shapes.map((s) => s.subject),
      shapes.map((s) => s.method),
      shapes.map((s) => s.routeTemplate),
      shapes.map((s) => s.status),
      shapes.map((s) => s.eventType),
      shapes.map((s) => s.generation),
      shapes.map((s) => (s.baseline === null ? null : JSON.stringify(s.baseline))),
      shapes.map((s) => s.updatedAt),
    ]);
    const saved = new Set(rows.map((row) => row.id));
    return shapes.filter((shape) => !saved.has(shape.id)).map((shape) => shape.id);
  }

  async recordIncidents(incidents: NewDriftIncident[]): Promise<void> {
    if (incidents.length === 0) return;
    await this.#pool.query(postgresDriftSql.recordIncidents, [
      incidents.map((i) => i.id),
      incidents.map((i) => i.shapeId),
      incidents.map((i) => i.kind),
      incidents.map((i) => i.subject),
      incidents.map((i) => i.method),
      incidents.map((i) => i.routeTemplate),
      incidents.map((i) => i.status),
      incidents.map((i) => i.eventType),
      incidents.map((i) => i.fieldPath),
      incidents.map((i) => i.change),
      incidents.map((i) => (i.breaking ? 1 : 0)),
      incidents.map((i) => i.example),
      incidents.map((i) => i.at),
      incidents.map((i) => i.seenCount),
    ]);
  }

  async listIncidents(filter: DriftIncidentFilter = {}): Promise<DriftIncident[]> {
    const after = filter.cursor === undefined ? undefined : readDriftCursor(filter.cursor);
    const { where, params } = incidentFilterSql({ ...filter, ...(after ? { after } : {}) }, (index) => `$${index}`);
    const limit = Math.min(filter.limit ?? 50, maxDriftPage);
    const { rows } = await this.#pool.query<DriftIncidentRow>(
      `SELECT * FROM drift_incidents ${where} ORDER BY detected_at DESC, id DESC LIMIT $${params.length + 1}`,
      [...params, limit],
    );
    return rows.map(incidentFromRow);
  }

  async getIncident(id: string): Promise<DriftIncident | undefined> {
    const { rows } = await this.#pool.query<DriftIncidentRow>(postgresDriftSql.getIncident, [id]);
    return rows[0] ? incidentFromRow(rows[0]) : undefined;
  }

  async acceptShape(input: { incidentId: string; acceptedBy: string; at: number }): Promise<AcceptedShape | undefined> {
    const { rows } = await this.#pool.query<{ shape_id: string | null; accepted: number }>(
      postgresDriftSql.acceptShape,
      [input.incidentId, input.at, input.acceptedBy],
    );
    const row = rows[0];
    return row?.shape_id ? { shapeId: row.shape_id, accepted: row.accepted } : undefined;
  }
}
