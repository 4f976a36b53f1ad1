import type { FastifyInstance, FastifyReply } from "fastify";
import type { Engine } from "../engine/engine.ts";
import { requestReconciliationRun } from "../reconciliation/reconciliations.ts";
import { findingToJson, reportFindingToJson, reportToJson } from "../reconciliation/report-json.ts";
import { repairSelectedFindings } from "../reconciliation/request-repairs.ts";
import { type FindingType, findingTypes } from "../storage/reconcile-store.ts";
import { sendError } from "./http-errors.ts";

const operator = { config: { role: "operator" } } as const;
const maxPage = 1000;
const maxRepairBatch = 1000;

/**
 * Reconciliations (docs/reconciliation.md). Viewer: `GET /api/reconciliations` (each with its open findings and
 * newest report), `GET /api/reconciliations/:id/reports` (newest first), `GET /api/reconciliations/:id/reports/:n`
 * (`n` or `latest`; its findings a page at a time, `?type=&limit=&offset=`), `GET /api/reconciliations/:id/findings`
 * (open ones). Operator, in the operator log: `POST /api/reconciliations/:id/run` (`{ "dryRun": true }`, `{ "full": true }` optional)
 * and `POST /api/reconciliations/:id/findings/repair` with `{ "findingIds": [...] }`.
 */
export function registerReconciliationRoutes(
  app: FastifyInstance,
  options: { engine: Engine; now: () => number },
): void {
  const { engine, now } = options;
  const store = engine.storage.reconcile;

  app.get("/api/reconciliations", async () => {
    const [summaries, open] = await Promise.all([store.listReconciliations(), store.countOpenFindings()]);
    const openBy = new Map(open.map((count) => [count.reconciliationId, count.open]));
    const reconciliations = await Promise.all(
      summaries.map(async (summary) => {
        const latest = await store.getReport(summary.id, "latest");
        return {
          ...summary,
          openFindings: openBy.get(summary.id) ?? 0,
          latestReport: latest ? reportToJson(latest) : null,
        };
      }),
    );
    return { reconciliations };
  });

  app.get<{ Params: { id: string }; Querystring: { limit?: string } }>(
    "/api/reconciliations/:id/reports",
    async (request, reply) => {
      if (!(await store.getReconciliation(request.params.id))) return unknown(reply, request.params.id);
      const limit = readLimit(request.query.limit, 50);
      if (limit === undefined) return badLimit(reply);
      return { reports: (await store.listReports(request.params.id, limit)).map(reportToJson) };
    },
  );

  app.get<{ Params: { id: string; n: string }; Querystring: { type?: string; limit?: string; offset?: string } }>(
    "/api/reconciliations/:id/reports/:n",
    async (request, reply) => {
      const { id, n } = request.params;
      const number = n === "latest" ? "latest" : Number(n);
      if (number !== "latest" && !(Number.isSafeInteger(number) && number >= 1)) {
        return sendError(reply, 400, "invalid_report", `a report is a number from 1 (or "latest"), not "${n}"`);
      }
      const type = request.query.type;
      if (type !== undefined && !findingTypes.includes(type as FindingType)) {
        return sendError(reply, 400, "invalid_type", `type must be one of ${findingTypes.join(", ")}`);
      }
      const limit = readLimit(request.query.limit, 100);
      const offset = request.query.offset === undefined ? 0 : Number(request.query.offset);
      if (limit === undefined) return badLimit(reply);
      if (!(Number.isSafeInteger(offset) && offset >= 0)) {
        return sendError(reply, 400, "invalid_offset", "offset must be a whole number ≥ 0");
      }
      const report = await store.getReport(id, number);
      if (!report) {
        if (!(await store.getReconciliation(id))) return unknown(reply, id);
        return sendError(
          reply,
          404,
          "unknown_report",
          `reconciliation "${id}" has no report ${n}; see GET /api/reconciliations/${id}/reports`,
        );
      }
      const findings = await store.listReportFindings(report.runId, {
        limit,
        offset,
        ...(type === undefined ? {} : { type: type as FindingType }),
      });
      return { report: { ...reportToJson(report), findings: findings.map(reportFindingToJson) } };
    },
  );

  app.get<{ Params: { id: string }; Querystring: { limit?: string } }>(
    "/api/reconciliations/:id/findings",
    async (request, reply) => {
      if (!(await store.getReconciliation(request.params.id))) return unknown(reply, request.params.id);
      const limit = readLimit(request.query.limit, 100);
      if (limit === undefined) return badLimit(reply);
      const findings = await store.listOpenFindings({ reconciliationId: request.params.id, limit });
      return { findings: findings.map(findingToJson) };
    },
  );

  app.post<{ Params: { id: string } }>("/api/reconciliations/:id/run", operator, async (request, reply) => {
    const body = readJsonBody(request.body);
    if (typeof body === "string")
      return sendError(reply, 400, "invalid_body", `${body}; send {}, { "dryRun": true } or { "full": true }`);
    const dryRun = (body as { dryRun?: unknown } | null)?.dryRun ?? false;
    if (typeof dryRun !== "boolean") return sendError(reply, 400, "invalid_body", "dryRun must be true or false");
    const full = (body as { full?: unknown } | null)?.full ?? false;
    if (typeof full !== "boolean") return sendError(reply, 400, "invalid_body", "full must be true or false");
    const by = `api:${request.apiPrincipal?.name ?? "unknown"}`;
    const accepted = await requestReconciliationRun(engine.send, request.params.id, {
      dryRun,
      ...(full ? { full } : {}),
      requestedBy: by,
    });
    const runId = accepted.runIds[0];
    if (!runId) return unknown(reply, request.params.id);
    request.operatorLogDetail = `${dryRun ? "dry run" : "run"}${full ? " (full pass)" : ""} of reconciliation ${request.params.id}`;
    return reply.code(202).send({ runId, dryRun });
  });

  app.post<{ Params: { id: string } }>("/api/reconciliations/:id/findings/repair", operator, async (request, reply) => {
    const usage = 'send { "findingIds": ["<finding id>", …] } (see GET /api/reconciliations/:id/findings)';
    const body = readJsonBody(request.body);
    if (typeof body === "string") return sendError(reply, 400, "invalid_body", `${body}; ${usage}`);
    const ids = (body as { findingIds?: unknown } | null)?.findingIds;
    if (
      !Array.isArray(ids) ||
      ids.length === 0 ||
      ids.length > maxRepairBatch ||
      !ids.every((id) => typeof id === "string")
    ) {
      return sendError(reply, 400, "invalid_body", `findingIds must be 1 to ${maxRepairBatch} strings; ${usage}`);
    }
    const outcome = await repairSelectedFindings({
      storage: engine.storage,
      send: engine.send,
      reconciliationId: request.params.id,
      findingIds: [...new Set(ids as string[])],
      by: `api:${request.apiPrincipal?.name ?? "unknown"}`,
      at: now(),
    });
    if ("refused" in outcome) {
      const known = await store.getReconciliation(request.params.id);
      return known ? sendError(reply, 409, "repair_refused", outcome.refused) : unknown(reply, request.params.id);
    }
    const requested = outcome.filter((o) => o.status === "requested").length;
    request.operatorLogDetail = `repair of ${requested} of ${outcome.length} findings of reconciliation ${request.params.id}`;
    return reply.code(202).send({ repairs: outcome });
  });
}

function unknown(reply: FastifyReply, id: string) {
  return sendError(
    reply,
    404,
    "unknown_reconciliation",
    `no reconciliation "${id}" in this deployment; see GET /api/reconciliations`,
  );
}

function badLimit(reply: FastifyReply) {
  return sendError(reply, 400, "invalid_limit", `limit must be a whole number from 1 to ${maxPage}`);
}

function readLimit(raw: string | undefined, fallback: number): number | undefined {
  const limit = raw === undefined ? fallback : Number(raw);
  return Number.isInteger(limit) && limit >= 1 && limit <= maxPage ? limit : undefined;
}

/** The raw body as JSON; an empty body is `null`; what is wrong with it otherwise. */
function readJsonBody(body: unknown): unknown {
  const raw = Buffer.isBuffer(body)
    ? body.toString("utf8")
    : typeof body === "string"
      ? body
      : JSON.stringify(body ?? null);
  if (raw.trim() === "") return null;
  try {
    const value = JSON.parse(raw) as unknown;
    if (value !== null && (typeof value !== "object" || Array.isArray(value))) return "the body must be a JSON object";
    return value;
  } catch {
    return "the body is not JSON";
  }
}
