/**
 * The part of the storage contract that API drift detection needs (src/drift/): the shapes Tenon learned of
 * what it receives, and the drift incidents found against them. The learner writes both in batches, once per
 * persistence period; people read incidents and accept a changed shape as the new baseline. Both backends
 * implement it (`sqlite/sqlite-drift.ts`, `postgres/postgres-drift.ts`).
 */

/** How a field of a learned shape changed. */
export const driftChanges = ["added", "removed", "type_changed", "became_nullable", "presence_dropped"] as const;
export type DriftChange = (typeof driftChanges)[number];

/** A shape as stored: how many bodies it was learned from and, per field path, its type bits and presence. */
export interface ShapeSummary {
  samples: number;
  /** path → [type bits (drift/json-shape.ts), bodies it was present in]. */
  paths: Record<string, [number, number]>;
}

/** What a shape is the shape of: one connection route's answers, or one webhook source's events of one type. */
export interface DriftShapeKey {
  kind: "connection" | "webhook";
  /** The connection id, or the webhook source. */
  subject: string;
  /** Connections: the request's method, its route template and the answer's status. */
  method: string | null;
  routeTemplate: string | null;
  status: number | null;
  /** Webhooks: the event type. */
  eventType: string | null;
}

export interface StoredDriftShape extends DriftShapeKey {
  id: string;
  /** Moves on each time the shape is accepted: a learner holding an older one learns the shape anew. */
  generation: number;
  /** The baseline; null while it is being learned (again, after an acceptance). */
  baseline: ShapeSummary | null;
  updatedAt: number;
}

export interface NewDriftIncident extends DriftShapeKey {
  /** Used only if this is the first time (shape, field, change) is seen. */
  id: string;
  shapeId: string;
  fieldPath: string;
  change: DriftChange;
  breaking: boolean;
  /** Type-only (`string (12 chars)`), never a value; null when the field is gone. */
  example: string | null;
  /** Bodies that showed it since the last batch. */
  seenCount: number;
  at: number;
}

export interface DriftIncident extends DriftShapeKey {
  id: string;
  shapeId: string;
  fieldPath: string;
  change: DriftChange;
  breaking: boolean;
  example: string | null;
  detectedAt: number;
  lastSeenAt: number;
  seenCount: number;
  acceptedAt: number | null;
  acceptedBy: string | null;
}

export interface DriftIncidentFilter {
  breaking?: boolean;
  /** true: not accepted yet; false: accepted. */
  open?: boolean;
  /** Default 50, at most 500. */
  limit?: number;
  /** From `driftCursorOf(lastIncidentOfThePreviousPage)`: the next page starts after it. */
  cursor?: string;
}

export interface AcceptedShape {
  shapeId: string;
  /** Its incidents that were open and are accepted now. */
  accepted: number;
}

export interface DriftStore {
  /** Every learned shape: a learner starting up carries on from them. */
  loadShapes(): Promise<StoredDriftShape[]>;
  /**
   * Stores these shapes (insert or update); a shape accepted since the learner read it (its stored generation
   * is newer) is left as it is and its id returned, so that the learner takes the stored one instead.
   */
  saveShapes(shapes: StoredDriftShape[]): Promise<string[]>;
  /** One incident per (shape, field, change): a known one counts the new sightings, keeping its id. */
  recordIncidents(incidents: NewDriftIncident[]): Promise<void>;
  /** Newest detected first, a page at a time. */
  listIncidents(filter?: DriftIncidentFilter): Promise<DriftIncident[]>;
  getIncident(id: string): Promise<DriftIncident | undefined>;
  /**
   * Accepts the shape of this incident as it is now: its open incidents are marked accepted (by whom, when)
   * and its baseline is learned anew from the next bodies. Undefined if there is no such incident.
   */
  acceptShape(input: { incidentId: string; acceptedBy: string; at: number }): Promise<AcceptedShape | undefined>;
}

export const maxDriftPage = 500;

/** A page's cursor: where the last incident shown sorts (detected_at, id, newest first). */
export function driftCursorOf(incident: Pick<DriftIncident, "detectedAt" | "id">): string {
  return Buffer.from(JSON.stringify([incident.detectedAt, incident.id])).toString("base64url");
}

/** The (detected_at, id) a cursor stands for; undefined for one that is not a cursor. */
export function readDriftCursor(cursor: string): { detectedAt: number; id: string } | undefined {
  try {
    const [detectedAt, id] = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as unknown[];
    if (typeof detectedAt === "number" && typeof id === "string") return { detectedAt, id };
  } catch {
    return undefined;
  }
  return undefined;
}
