import type { DriftChange, DriftIncident, ShapeSummary, StoredDriftShape } from "./drift-store.ts";

/** A drift_shapes row as both backends read it (PostgreSQL's bigint arrives as a string). */
export interface DriftShapeRow {
  id: string;
  kind: string;
  subject: string;
  method: string | null;
  route_template: string | null;
  status: number | null;
  event_type: string | null;
  generation: number;
  baseline: string | null;
  updated_at: number | string;
}

export interface DriftIncidentRow {
  id: string;
  shape_id: string;
  kind: string;
  subject: string;
  method: string | null;
  route_template: string | null;
  status: number | null;
  event_type: string | null;
  field_path: string;
  change: string;
  breaking: number;
  example: string | null;
  detected_at: number | string;
  last_seen_at: number | string;
  seen_count: number | string;
  accepted_at: number | string | null;
  accepted_by: string | null;
}

export function shapeFromRow(row: DriftShapeRow): StoredDriftShape {
  return {
    id: row.id,
    kind: row.kind as StoredDriftShape["kind"],
    subject: row.subject,
    method: row.method,
    routeTemplate: row.route_template,
    status: row.status,
    eventType: row.event_type,
    generation: row.generation,
    baseline: row.baseline === null ? null : (JSON.parse(row.baseline) as ShapeSummary),
    updatedAt: Number(row.updated_at),
  };
}

export function incidentFromRow(row: DriftIncidentRow): DriftIncident {
  return {
    id: row.id,
    shapeId: row.shape_id,
    kind: row.kind as DriftIncident["kind"],
    subject: row.subject,
    method: row.method,
    routeTemplate: row.route_template,
    status: row.status,
    eventType: row.event_type,
    fieldPath: row.field_path,
    change: row.change as DriftChange,
    breaking: row.breaking === 1,
    example: row.example,
    detectedAt: Number(row.detected_at),
    lastSeenAt: Number(row.last_seen_at),
    seenCount: Number(row.seen_count),
    acceptedAt: row.accepted_at === null ? null : Number(row.accepted_at),
    acceptedBy: row.accepted_by,
  };
}

/** The WHERE of a page of incidents, with `?` or `$n` placeholders: what both backends filter and order by. */
export function incidentFilterSql(
  filter: { breaking?: boolean; open?: boolean; after?: { detectedAt: number; id: string } },
  placeholder: (index: number) => string,
): { where: string; params: unknown[] } {
  const clauses: string[] = [];
  const params: unknown[] = [];
  if (filter.open !== undefined) clauses.push(filter.open ? "accepted_at IS NULL" : "accepted_at IS NOT NULL");
  if (filter.breaking !== undefined) {
    params.push(filter.breaking ? 1 : 0);
    clauses.push(`breaking = ${placeholder(params.length)}`);
  }
  if (filter.after) {
    params.push(filter.after.detectedAt, filter.after.id);
    clauses.push(`(detected_at, id) < (${placeholder(params.length - 1)}, ${placeholder(params.length)})`);
  }
  return { where: clauses.length > 0 ? `WHERE ${clauses.join(" AND ")}` : "", params };
}
