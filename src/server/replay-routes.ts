import type { FastifyInstance } from "fastify";
import type { Logger } from "pino";
import type { Engine } from "../engine/engine.ts";
import type { WebhookSource } from "../ingestion/webhooks/webhook-sources.ts";
import { replayRunSelection } from "../replay/replay-run-selection.ts";
import { replayStoredEvent } from "../replay/replay-stored-event.ts";
import { ValidationError } from "../sdk/errors.ts";
import type { ReplaySelection } from "../storage/contract.ts";
import { replayActor } from "../storage/operator-store.ts";
import { apiTimeHint, parseApiTime } from "./api-time.ts";
import { sendError } from "./http-errors.ts";

export interface ReplayRoutesOptions {
  engine: Engine;
  /** To parse a quarantined webhook's body again, as `tenon replay-event` does. */
  sources: ReadonlyMap<string, WebhookSource>;
  logger: Logger;
  bodyLimit: number;
}

type IdParams = { Params: { id: string } };

interface BulkReplayRequest {
  status: "dead" | "failed";
  integration?: string;
  since?: number;
  until?: number;
  dryRun: boolean;
}

const bulkKeys = ["status", "integration", "since", "until", "dryRun"];
const operator = { config: { role: "operator" } } as const;

/**
 * Replay through the API, for operators: the same operations as `tenon replay` and `tenon replay-event`
 * (src/replay/), answering with what happened. Who asked is the token's name: it goes into each replayed run's
 * history (`api:<name>`) and, with the outcome, into the operator log (api-access.ts).
 */
export function registerReplayRoutes(app: FastifyInstance, options: ReplayRoutesOptions): void {
  const { engine, logger } = options;

  app.post<IdParams>("/api/runs/:id/replay", operator, async (request, reply) => {
    const { id } = request.params;
    const before = await engine.storage.getRun(id);
    if (!before) return sendError(reply, 404, "unknown_run", `run ${id} does not exist`);
    try {
      const run = await engine.replay(id, { actor: replayActor("api", request.apiPrincipal?.name ?? "unknown") });
      request.operatorLogDetail = `was ${before.status}, now ${run.status}`;
      return {
        run: { id: run.id, integrationId: run.integrationId, status: run.status, previousStatus: before.status },
        message: `run ${run.id} is ${run.status} again; it resumes at its first incomplete step`,
      };
    } catch (error) {
      if (error instanceof ValidationError) return sendError(reply, 409, "not_replayable", error.message);
      throw error;
    }
  });

  app.post<IdParams>("/api/events/:id/replay", operator, async (request, reply) => {
    const { id } = request.params;
    if (!(await engine.storage.getEvent(id)))
      return sendError(reply, 404, "unknown_event", `event ${id} does not exist`);
    const result = await replayStoredEvent(engine, options.sources, id);
    if (!result.quarantined) {
      request.operatorLogDetail = `started ${result.runIds.length} new run(s)`;
      return { eventId: id, requalified: false, status: "rerun", runIds: result.runIds };
    }
    request.operatorLogDetail = `was quarantined, now ${result.status}`;
    if (result.status === "skipped") return sendError(reply, 409, "not_replayable", `event ${id}: ${result.reason}`);
    return {
      eventId: id,
      requalified: true,
      status: result.status,
      runIds: result.status === "accepted" ? result.runIds : [],
      ...(result.status === "quarantined" ? { reason: result.reason } : {}),
    };
  });

  app.post("/api/runs/replay", { ...operator, bodyLimit: options.bodyLimit }, async (request, reply) => {
    const parsed = parseBulkReplay(Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0));
    if (typeof parsed === "string") return sendError(reply, 400, "invalid_replay", parsed);
    const selection: ReplaySelection = {
      status: parsed.status,
      finishedBy: Date.now(),
      ...(parsed.integration === undefined ? {} : { integrationId: parsed.integration }),
      ...(parsed.since === undefined ? {} : { createdSince: parsed.since }),
      ...(parsed.until === undefined ? {} : { createdBefore: parsed.until }),
    };
    const selected = await engine.storage.countRunsToReplay(selection);
    if (parsed.dryRun) return { dryRun: true, selected };
    const actor = replayActor("api", request.apiPrincipal?.name ?? "unknown");
    const tally = await replayRunSelection(engine.storage, selection, { actor });
    if (tally.replayed > 0) engine.wake();
    if (tally.failed > 0) logger.warn({ failed: tally.failed }, "a bulk replay through the API left runs unreplayed");
    request.operatorLogDetail = `${describeBulk(parsed)}: ${tally.summary()}`;
    return {
      selected,
      replayed: tally.replayed,
      skipped: tally.skipped,
      failed: tally.failed,
      reasons: Object.fromEntries(tally.reasons),
    };
  });
}

/** The request, or what is wrong with it. */
function parseBulkReplay(raw: Buffer): BulkReplayRequest | string {
  const usage = 'send { status: "dead" | "failed", integration?, since?, until?, dryRun? }';
  let body: unknown;
  try {
    body = raw.length === 0 ? {} : JSON.parse(raw.toString("utf8"));
  } catch {
    return `the body is not valid JSON; ${usage}`;
  }
  if (typeof body !== "object" || body === null || Array.isArray(body))
    return `the body must be a JSON object; ${usage}`;
  const fields = body as Record<string, unknown>;
  const unknown = Object.keys(fields).find((key) => !bulkKeys.includes(key));
  if (unknown !== undefined) return `unknown key "${unknown}"; allowed keys: ${bulkKeys.join(", ")}`;
  const { status, integration, dryRun } = fields;
  if (status !== "dead" && status !== "failed") return `status must be "dead" or "failed"; ${usage}`;
  if (integration !== undefined && (typeof integration !== "string" || integration === "")) {
    return "integration must be an integration id";
  }
  if (dryRun !== undefined && typeof dryRun !== "boolean") return "dryRun must be true or false";
  const since = parseApiTime(fields.since);
  const until = parseApiTime(fields.until);
  if (since === null) return `since (runs created at or after) must be ${apiTimeHint}`;
  if (until === null) return `until (runs created before) must be ${apiTimeHint}`;
  return {
    status,
    dryRun: dryRun === true,
    ...(integration === undefined ? {} : { integration: integration as string }),
    ...(since === undefined ? {} : { since }),
    ...(until === undefined ? {} : { until }),
  };
}

function describeBulk(request: BulkReplayRequest): string {
  const parts = [`status ${request.status}`];
  if (request.integration !== undefined) parts.push(`integration ${request.integration}`);
  if (request.since !== undefined) parts.push(`since ${new Date(request.since).toISOString()}`);
  if (request.until !== undefined) parts.push(`until ${new Date(request.until).toISOString()}`);
  return parts.join(", ");
}
