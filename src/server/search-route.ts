import type { FastifyInstance } from "fastify";
import { parseEntityQuery } from "../observability/entity-query.ts";
import { type EntitySearchResult, maxSearchLimit, searchByEntity } from "../observability/entity-search.ts";
import { ValidationError } from "../sdk/errors.ts";
import type { Storage } from "../storage/contract.ts";
import { sendError } from "./http-errors.ts";

export interface SearchRouteOptions {
  storage: Storage;
}

type SearchQuery = { Querystring: { q?: string; limit?: string; cursor?: string } };

/**
 * `GET /api/search?q=order:1001`: the runs about a business entity, the events that started them and the
 * requests they sent, newest first, a page at a time (`limit`, `cursor`). Needs the `viewer` role (api-access.ts):
 * what was sent to other systems is business data even with secrets redacted.
 */
export function registerSearchRoute(app: FastifyInstance, options: SearchRouteOptions): void {
  app.get<SearchQuery>("/api/search", async (request, reply) => {
    const limit = parseSearchLimit(request.query.limit);
    if (limit === null) {
      return sendError(reply, 400, "invalid_limit", `limit must be a whole number from 1 to ${maxSearchLimit}`);
    }
    let result: EntitySearchResult;
    try {
      const terms = parseEntityQuery(request.query.q);
      const { cursor } = request.query;
      result = await searchByEntity(options.storage, terms, { limit, ...(cursor ? { cursor } : {}) });
    } catch (error) {
      if (error instanceof ValidationError) return sendError(reply, 400, "invalid_query", error.message);
      throw error;
    }
    return { ...result, exchanges: result.exchanges.map(withParsedHeaders) };
  });
}

function parseSearchLimit(value: string | undefined): number | null | undefined {
  if (value === undefined) return undefined;
  const limit = Number(value);
  return /^\d+$/.test(value) && limit >= 1 && limit <= maxSearchLimit ? limit : null;
}

/** Header columns are stored as JSON text; the answer carries them as objects, as `/api/audit` does. */
function withParsedHeaders<T extends { requestHeaders: string; responseHeaders: string | null }>(record: T) {
  return {
    ...record,
    requestHeaders: parseHeaders(record.requestHeaders),
    responseHeaders: record.responseHeaders === null ? null : parseHeaders(record.responseHeaders),
  };
}

function parseHeaders(text: string): Record<string, string> {
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)
      ? (parsed as Record<string, string>)
      : {};
  } catch {
    return {};
  }
}
