import type { FastifyInstance, FastifyRequest } from "fastify";
import type { BulkActions } from "../replay/bulk-actions.ts";
import { parseStoredSelection, selectionToJson } from "../replay/bulk-selection.ts";
import {
  type BulkActionKind,
  type BulkActionRecord,
  type BulkActionStore,
  bulkActionKinds,
} from "../storage/bulk-action-store.ts";
import { sendError } from "./http-errors.ts";

export interface BulkActionRoutesOptions {
  store: BulkActionStore;
  bulkActions: BulkActions;
}

const operator = { config: { role: "operator" } } as const;
const defaultLimit = 20;
const maxLimit = 100;

/**
 * Bulk actions as the API shows them: `GET /api/bulk-actions?kind&limit&cursor` (newest first) and
 * `GET /api/bulk-actions/:id` (a job's progress, read from storage, so every worker answers the same), and
 * `POST /api/bulk-actions/:id/resume` to take an interrupted job over. The operator role, reads included: like
 * the operator log, a job names who started it.
 */
export function registerBulkActionRoutes(app: FastifyInstance, options: BulkActionRoutesOptions): void {
  const { store, bulkActions } = options;

  app.get<{ Querystring: { kind?: string; limit?: string; cursor?: string } }>(
    "/api/bulk-actions",
    operator,
    async (request, reply) => {
      const { kind, limit: limitText = String(defaultLimit), cursor } = request.query;
      if (kind !== undefined && !isKind(kind)) {
        return sendError(reply, 400, "invalid_kind", `kind must be one of: ${bulkActionKinds.join(", ")}`);
      }
      const limit = Number(limitText);
      if (!/^\d+$/.test(limitText) || limit < 1 || limit > maxLimit) {
        return sendError(reply, 400, "invalid_limit", `limit must be a whole number from 1 to ${maxLimit}`);
      }
      const before = cursor === undefined ? undefined : parseCursor(cursor);
      if (before === null) {
        return sendError(reply, 400, "invalid_cursor", "cursor must be the nextCursor of a previous page, unchanged");
      }
      const jobs = await store.listBulkActions({
        now: Date.now(),
        limit,
        ...(kind === undefined ? {} : { kind }),
        ...(before ? { before } : {}),
      });
      const last = jobs.at(-1);
      return {
        bulkActions: jobs.map(bulkActionToJson),
        nextCursor: last && jobs.length === limit ? formatCursor(last) : null,
      };
    },
  );

  app.get<{ Params: { id: string } }>("/api/bulk-actions/:id", operator, async (request, reply) => {
    const job = await store.getBulkAction(request.params.id, Date.now());
    if (!job) return sendError(reply, 404, "unknown_bulk_action", `no bulk action "${request.params.id}" is stored`);
    return bulkActionToJson(job);
  });

  // Like a new job, a resumed one goes on once its answer (and so its operator-log entry) is out.
  const resumed = new WeakMap<FastifyRequest, BulkActionRecord>();
  const resume = {
    ...operator,
    onResponse: async (request: FastifyRequest) => {
      const job = resumed.get(request);
      if (job) bulkActions.begin(job);
    },
  };
  app.post<{ Params: { id: string } }>("/api/bulk-actions/:id/resume", resume, async (request, reply) => {
    const { id } = request.params;
    const taken = await bulkActions.takeOver(id);
    if (taken) {
      resumed.set(request, taken);
      const answer = bulkActionToJson(taken);
      request.operatorLogDetail = `resumed at ${answer.done} of ${answer.total}`;
      return reply.code(202).send(answer);
    }
    const job = await store.getBulkAction(id, Date.now());
    if (!job) return sendError(reply, 404, "unknown_bulk_action", `no bulk action "${id}" is stored`);
    return sendError(
      reply,
      409,
      "not_interrupted",
      job.state === "running"
        ? `bulk action ${id} is running (a worker renews its lease); only an interrupted one can be resumed`
        : `bulk action ${id} is ${job.state}; start a new one to replay what matches now`,
    );
  });
}

/** `{ id, kind, filter, actor, total, done, replayed, skipped, failed, state, startedAt, finishedAt, … }`. */
export function bulkActionToJson(job: BulkActionRecord) {
  const other = Object.values(job.other).reduce((sum, count) => sum + count, 0);
  return {
    id: job.id,
    kind: job.kind,
    filter: selectionToJson(parseStoredSelection(job.kind, job.selectionJson)),
    actor: job.actor,
    total: job.total,
    done: job.replayed + job.skipped + job.failed + other,
    replayed: job.replayed,
    skipped: job.skipped,
    failed: job.failed,
    other: job.other,
    reasons: job.reasons,
    state: job.state,
    error: job.error,
    startedAt: iso(job.startedAt),
    updatedAt: iso(job.updatedAt),
    finishedAt: job.finishedAt === null ? null : iso(job.finishedAt),
  };
}

function isKind(value: string): value is BulkActionKind {
  return (bulkActionKinds as readonly string[]).includes(value);
}

const iso = (epochMs: number) => new Date(epochMs).toISOString();

function formatCursor(job: BulkActionRecord): string {
  return Buffer.from(JSON.stringify([job.startedAt, job.id])).toString("base64url");
}

function parseCursor(cursor: string): { startedAt: number; id: string } | null {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
    if (!Array.isArray(parsed)) return null;
    const [startedAt, id] = parsed;
    return Number.isSafeInteger(startedAt) && typeof id === "string" ? { startedAt, id } : null;
  } catch {
    return null;
  }
}
