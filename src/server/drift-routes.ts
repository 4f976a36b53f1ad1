import type { FastifyInstance } from "fastify";
import {
  type DriftIncident,
  type DriftStore,
  driftCursorOf,
  maxDriftPage,
  readDriftCursor,
} from "../storage/drift-store.ts";
import { replayActor } from "../storage/operator-store.ts";
import { sendError } from "./http-errors.ts";

export interface DriftRoutesOptions {
  store: DriftStore;
  now: () => number;
}

type DriftQuery = { Querystring: { open?: string; breaking?: string; limit?: string; cursor?: string } };

const operator = { config: { role: "operator" } } as const;

/**
 * `GET /api/drift` (viewer): API drift incidents, newest first, a page at a time, filtered by `open` (not yet
 * accepted) and `breaking`. `POST /api/drift/:id/accept` (operator): the shape of that incident is accepted as
 * it is now (its open incidents are closed and the baseline is learned anew); who did it is the token's name,
 * and the call goes into the operator log (api-access.ts).
 */
export function registerDriftRoutes(app: FastifyInstance, options: DriftRoutesOptions): void {
  const { store, now } = options;

  app.get<DriftQuery>("/api/drift", async (request, reply) => {
    const { open, breaking, limit, cursor } = request.query;
    const flags = { open: parseFlag(open), breaking: parseFlag(breaking) };
    for (const [name, value] of Object.entries(flags)) {
      if (value === null) return sendError(reply, 400, `invalid_${name}`, `${name} must be true or false`);
    }
    const pageSize = limit === undefined ? 50 : Number(limit);
    if (!/^\d+$/.test(limit ?? "50") || pageSize < 1 || pageSize > maxDriftPage) {
      return sendError(reply, 400, "invalid_limit", `limit must be a whole number from 1 to ${maxDriftPage}`);
    }
    if (cursor !== undefined && !readDriftCursor(cursor)) {
      return sendError(reply, 400, "invalid_cursor", 'pass the "nextCursor" of the previous page as it is');
    }
    const incidents = await store.listIncidents({
      limit: pageSize,
      ...(flags.open !== undefined && flags.open !== null ? { open: flags.open } : {}),
      ...(flags.breaking !== undefined && flags.breaking !== null ? { breaking: flags.breaking } : {}),
      ...(cursor !== undefined ? { cursor } : {}),
    });
    const last = incidents.at(-1);
    return {
      incidents: incidents.map(incidentToJson),
      nextCursor: last && incidents.length === pageSize ? driftCursorOf(last) : null,
    };
  });

  app.post<{ Params: { id: string } }>("/api/drift/:id/accept", operator, async (request, reply) => {
    const { id } = request.params;
    const accepted = await store.acceptShape({
      incidentId: id,
      acceptedBy: replayActor("api", request.apiPrincipal?.name ?? "unknown"),
      at: now(),
    });
    if (!accepted) return sendError(reply, 404, "unknown_incident", `drift incident ${id} does not exist`);
    request.operatorLogDetail = `accepted shape ${accepted.shapeId} (${accepted.accepted} open incident(s))`;
    return {
      ...accepted,
      message: `the new shape is accepted: ${accepted.accepted} open incident(s) closed, and the baseline is learned again from the next answers`,
    };
  });
}

/** undefined: not given; null: not a boolean. */
function parseFlag(value: string | undefined): boolean | undefined | null {
  if (value === undefined) return undefined;
  return value === "true" ? true : value === "false" ? false : null;
}

const iso = (epochMs: number | null) => (epochMs === null ? null : new Date(epochMs).toISOString());

export function incidentToJson(incident: DriftIncident) {
  return {
    ...incident,
    detectedAt: iso(incident.detectedAt),
    lastSeenAt: iso(incident.lastSeenAt),
    acceptedAt: iso(incident.acceptedAt),
  };
}
