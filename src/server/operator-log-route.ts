import type { FastifyInstance } from "fastify";
import type { OperatorLogFilter, OperatorStore } from "../storage/operator-store.ts";
import { apiTimeHint, parseApiTime } from "./api-time.ts";
import { sendError } from "./http-errors.ts";

const maxLimit = 1000;

/**
 * `GET /api/operator-log?since&limit&cursor`: who did what through the API and the CLI, newest first. It needs
 * the operator role, not viewer: it names people and their addresses, which a wall display has no use for.
 * `cursor` is the `nextCursor` of the previous page (opaque); it is null on the last page.
 */
export function registerOperatorLogRoute(app: FastifyInstance, store: OperatorStore): void {
  app.get<{ Querystring: { since?: string; limit?: string; cursor?: string } }>(
    "/api/operator-log",
    { config: { role: "operator" } },
    async (request, reply) => {
      const { query } = request;
      const limit = query.limit === undefined ? 100 : Number(query.limit);
      if (!/^\d+$/.test(query.limit ?? "100") || limit < 1 || limit > maxLimit) {
        return sendError(reply, 400, "invalid_limit", `limit must be a whole number from 1 to ${maxLimit}`);
      }
      const since = parseApiTime(query.since);
      if (since === null) return sendError(reply, 400, "invalid_since", `since must be ${apiTimeHint}`);
      const before = query.cursor === undefined ? undefined : parseCursor(query.cursor);
      if (before === null) {
        return sendError(reply, 400, "invalid_cursor", "cursor must be the nextCursor of a previous page, unchanged");
      }
      const filter: OperatorLogFilter = { limit };
      if (since !== undefined) filter.since = since;
      if (before !== undefined) filter.before = before;
      const entries = await store.listOperatorLog(filter);
      const last = entries.at(-1);
      const nextCursor = last && entries.length === limit ? formatCursor(last) : null;
      return { entries: entries.map(({ seq: _seq, ...entry }) => entry), nextCursor };
    },
  );
}

function formatCursor(entry: { at: number; seq: number }): string {
  return Buffer.from(`${entry.at}.${entry.seq}`).toString("base64url");
}

function parseCursor(cursor: string): { at: number; seq: number } | null {
  const match = /^(\d+)\.(\d+)$/.exec(Buffer.from(cursor, "base64url").toString("utf8"));
  if (!match) return null;
  return { at: Number(match[1]), seq: Number(match[2]) };
}
