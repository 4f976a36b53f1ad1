import type { FastifyInstance, FastifyReply } from "fastify";
import type { Logger } from "pino";
import type { Connections } from "../connections/connections.ts";
import { ValidationError } from "../sdk/errors.ts";
import type { AuditFilter, AuditRecord } from "../storage/connection-store.ts";
import type { ConnectionRunActivity, ReadApiStore } from "../storage/read-api-store.ts";
import { sendError } from "./http-errors.ts";

export interface ConnectionsRoutesOptions {
  connections: Connections;
  logger: Logger;
  bodyLimit: number;
  /** Where the runs a connection holds, and its waits, pauses and resumes, are read (`/activity`). */
  readApi: ReadApiStore;
  now: () => number;
}

interface CredentialsUpdate {
  credentials: Record<string, string>;
  expiresAt?: number | null;
  replace?: boolean;
}

type IdParams = { Params: { id: string } };

const maxListLimit = 1000;
/** `/activity` counts the last hour's waits, pauses and resumes, up to this many in all. */
const activityWindowMs = 3_600_000;
const activityCap = 1000;
const updateKeys = ["credentials", "expiresAt", "replace"];

/**
 * The operator's API for connections, behind the API's tokens and roles (api-access.ts): their state,
 * their incidents, what they did to runs (held, waits, pauses, resumes), the audit trail of outbound
 * exchanges, and new credentials. Nothing here ever
 * answers with a credential: summaries carry state only, and audit records were redacted before storage.
 */
export function registerConnectionsRoutes(app: FastifyInstance, options: ConnectionsRoutesOptions): void {
  const { connections, logger } = options;
  const known = (id: string, reply: FastifyReply): boolean => {
    if (connections.names.includes(id)) return true;
    sendError(
      reply,
      404,
      "unknown_connection",
      `no connection "${id}"; configured: ${connections.names.join(", ") || "none"}`,
    );
    return false;
  };

  app.get("/api/connections", async () => ({ connections: await connections.list() }));

  app.get<IdParams>("/api/connections/:id", async (request, reply) => {
    if (!known(request.params.id, reply)) return reply;
    return connections.describe(request.params.id);
  });

  app.get<IdParams & { Querystring: { limit?: string } }>("/api/connections/:id/incidents", async (request, reply) => {
    if (!known(request.params.id, reply)) return reply;
    const limit = parseLimit(request.query.limit);
    if (limit === null) return sendLimitError(reply);
    return { incidents: await connections.listIncidents(request.params.id, limit) };
  });

  app.get<IdParams>("/api/connections/:id/activity", async (request, reply) => {
    if (!known(request.params.id, reply)) return reply;
    const now = options.now();
    return activityToJson(
      await options.readApi.connectionRunActivity(request.params.id, now - activityWindowMs, activityCap),
    );
  });

  app.get<{ Querystring: { run?: string; connection?: string; limit?: string } }>(
    "/api/audit",
    async (request, reply) => {
      const limit = parseLimit(request.query.limit);
      if (limit === null) return sendLimitError(reply);
      const filter: AuditFilter = { limit };
      if (request.query.run) filter.runId = request.query.run;
      if (request.query.connection) filter.connectionId = request.query.connection;
      const records = await connections.listAudit(filter);
      return { records: records.map(toAuditAnswer) };
    },
  );

  app.put<IdParams>(
    "/api/connections/:id/credentials",
    // No role declared: changing credentials needs admin (see api-access.ts).
    { bodyLimit: options.bodyLimit },
    async (request, reply) => {
      const { id } = request.params;
      if (!known(id, reply)) return reply;
      if (!/^application\/([\w.+-]+\+)?json\s*(;|$)/i.test(request.headers["content-type"] ?? "")) {
        return sendError(reply, 415, "unsupported_content_type", "send the credentials as application/json");
      }
      const update = parseCredentialsUpdate(Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0));
      if (typeof update === "string") return sendError(reply, 400, "invalid_credentials", update);
      let resumedRuns: number;
      try {
        resumedRuns = await connections.setCredentials(id, update.credentials, {
          ...(update.expiresAt === undefined ? {} : { expiresAt: update.expiresAt }),
          ...(update.replace === undefined ? {} : { replace: update.replace }),
        });
      } catch (error) {
        if (error instanceof ValidationError) return sendError(reply, 400, "invalid_credentials", error.message);
        logger.error({ connection: id, err: (error as Error).message }, "storing credentials failed");
        reply.header("retry-after", "5");
        return sendError(reply, 503, "storage_unavailable", "the credentials could not be stored; retry after 5 s");
      }
      logger.info({ connection: id, resumedRuns }, "credentials updated through the API");
      return { resumedRuns };
    },
  );
}

/** The update, or what is wrong with it. The message never quotes a value: a value may be a secret. */
function parseCredentialsUpdate(raw: Buffer): CredentialsUpdate | string {
  let body: unknown;
  try {
    body = JSON.parse(raw.toString("utf8"));
  } catch {
    return "the body is not valid JSON; send { credentials: { <field>: <string> }, expiresAt?, replace? }";
  }
  if (!isRecord(body)) return "the body must be a JSON object { credentials, expiresAt?, replace? }";
  const unknown = Object.keys(body).find((key) => !updateKeys.includes(key));
  if (unknown !== undefined) return `unknown key "${unknown}"; allowed keys: ${updateKeys.join(", ")}`;
  const { credentials, expiresAt, replace } = body;
  if (!isRecord(credentials) || Object.keys(credentials).length === 0) {
    return 'credentials must be an object with at least one field, e.g. { apiKey: "…" }';
  }
  for (const [field, value] of Object.entries(credentials)) {
    if (typeof value !== "string" || value === "") return `credentials.${field} must be a non-empty string`;
  }
  const update: CredentialsUpdate = { credentials: credentials as Record<string, string> };
  if (expiresAt !== undefined) {
    const parsed = expiresAt === null ? null : typeof expiresAt === "string" ? Date.parse(expiresAt) : Number.NaN;
    if (parsed !== null && Number.isNaN(parsed)) {
      return "expiresAt must be an ISO 8601 date-time (2030-01-31T00:00:00Z), or null when the credentials do not expire";
    }
    update.expiresAt = parsed;
  }
  if (replace !== undefined) {
    if (typeof replace !== "boolean") return "replace must be true or false";
    update.replace = replace;
  }
  return update;
}

/** Limit from the query string: default 100, else a whole number from 1 to 1000; null when invalid. */
function parseLimit(value: string | undefined): number | null {
  if (value === undefined) return 100;
  const limit = Number(value);
  return /^\d+$/.test(value) && limit >= 1 && limit <= maxListLimit ? limit : null;
}

function sendLimitError(reply: FastifyReply): FastifyReply {
  return sendError(reply, 400, "invalid_limit", `limit must be a whole number from 1 to ${maxListLimit}`);
}

/** `GET /api/connections/:id/activity`: the runs it holds now, and its last hour as counts and newest entries. */
function activityToJson(activity: ConnectionRunActivity) {
  const { held, recent, lastWait, lastResume } = activity;
  return {
    held,
    lastHour: recent,
    lastWait: lastWait && { ...lastWait, at: iso(lastWait.at), until: iso(lastWait.until) },
    lastResume: lastResume && { ...lastResume, at: iso(lastResume.at) },
  };
}

const iso = (epochMs: number | null) => (epochMs === null ? null : new Date(epochMs).toISOString());

/** Header columns are stored as JSON text; the answer carries them as objects. */
function toAuditAnswer(record: AuditRecord) {
  return {
    ...record,
    requestHeaders: parseHeaders(record.requestHeaders),
    responseHeaders: record.responseHeaders === null ? null : parseHeaders(record.responseHeaders),
  };
}

function parseHeaders(text: string): Record<string, string> {
  try {
    const parsed: unknown = JSON.parse(text);
    return isRecord(parsed) ? (parsed as Record<string, string>) : {};
  } catch {
    return {};
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
