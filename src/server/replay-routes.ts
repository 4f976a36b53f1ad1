import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Engine } from "../engine/engine.ts";
import type { WebhookSource } from "../ingestion/webhooks/webhook-sources.ts";
import type { BulkActions } from "../replay/bulk-actions.ts";
import { describeSelection } from "../replay/bulk-selection.ts";
import { replayStoredEvent } from "../replay/replay-stored-event.ts";
import { ValidationError } from "../sdk/errors.ts";
import type { BulkActionRecord } from "../storage/bulk-action-store.ts";
import { replayActor } from "../storage/operator-store.ts";
import { bulkActionToJson } from "./bulk-action-routes.ts";
import { type BulkReplayRequest, parseBulkEventReplay, parseBulkRunReplay } from "./bulk-replay-request.ts";
import { sendError } from "./http-errors.ts";

export interface ReplayRoutesOptions {
  engine: Engine;
  /** To parse a quarantined webhook's body again, as `tenon replay-event` does. */
  sources: ReadonlyMap<string, WebhookSource>;
  /** Where bulk replays run as jobs. */
  bulkActions: BulkActions;
  bodyLimit: number;
}

type IdParams = { Params: { id: string } };

const operator = { config: { role: "operator" } } as const;

/**
 * Replay through the API, for operators: the same operations as `tenon replay` and `tenon replay-event`
 * (src/replay/). One run or event is replayed at once, answered with what happened. A bulk replay (every dead
 * run, or quarantined event, that matches a filter) previews its count with `dryRun: true` (nothing changes,
 * nothing is logged), or starts a job and answers 202 with it: `GET /api/bulk-actions/:id` follows its progress
 * (bulk-action-routes.ts). Who asked is the token's name: it goes into each replayed run's history
 * (`api:<name>`) and, with the outcome, into the operator log (api-access.ts; a job's end is logged when it ends).
 */
export function registerReplayRoutes(app: FastifyInstance, options: ReplayRoutesOptions): void {
  const { engine, bulkActions } = options;

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

  // A job begins once its answer is sent, so the operator log has its start (written before the answer) first.
  const created = new WeakMap<FastifyRequest, BulkActionRecord>();
  const bulk = {
    ...operator,
    bodyLimit: options.bodyLimit,
    onResponse: async (request: FastifyRequest) => {
      const job = created.get(request);
      if (job) bulkActions.begin(job);
    },
  };
  const answer = async (request: FastifyRequest, reply: FastifyReply, parsed: BulkReplayRequest | string) => {
    if (typeof parsed === "string") return sendError(reply, 400, "invalid_replay", parsed);
    const { selection, dryRun } = parsed;
    if (dryRun) {
      request.operatorLogSkip = true;
      return { dryRun: true, selected: await bulkActions.count(selection) };
    }
    const principal = request.apiPrincipal;
    const job = await bulkActions.create(selection, {
      name: principal?.name ?? "unknown",
      role: principal?.role ?? null,
    });
    created.set(request, job);
    request.operatorLogTarget = job.id;
    request.operatorLogDetail = `started a bulk action (${describeSelection(selection)}): ${job.total} selected`;
    reply.code(202).header("location", `/api/bulk-actions/${job.id}`);
    return bulkActionToJson(job);
  };

  app.post("/api/runs/replay", bulk, async (request, reply) =>
    answer(request, reply, parseBulkRunReplay(rawBody(request), Date.now())),
  );
  app.post("/api/events/replay", bulk, async (request, reply) =>
    answer(request, reply, parseBulkEventReplay(rawBody(request), Date.now())),
  );
}

function rawBody(request: FastifyRequest): Buffer {
  return Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
}
