import type { FastifyInstance, FastifyReply } from "fastify";
import { parseEntityQuery } from "../observability/entity-query.ts";
import { eventToJson } from "../observability/event-json.ts";
import { loadRunTimeline } from "../observability/run-timeline.ts";
import { runTimelineToJson } from "../observability/run-timeline-json.ts";
import { ValidationError } from "../sdk/errors.ts";
import type { RunRecord, Storage } from "../storage/contract.ts";
import { maxErrorTextLength } from "../storage/error-contains.ts";
import type { EntityTag } from "../storage/tag-store.ts";
import { sendError } from "./http-errors.ts";
import {
  checkWindow,
  eventCursor,
  ParamError,
  parseEventCursor,
  parseEventStatus,
  parsePageSize,
  parseRunCursor,
  parseRunStatus,
  parseTime,
  runCursor,
} from "./read-api-params.ts";

export interface ReadApiRoutesOptions {
  storage: Storage;
  now: () => number;
}

type Query = Record<string, string | string[] | undefined>;

const runParams = ["status", "integration", "error", "since", "until", "entity", "limit", "cursor"];
/**
 * `entity=order:1001` narrows the runs to those tagged with it (several terms: with all of them), among the
 * entity's newest `entityRunsLimit` runs: an entity concerns a handful of runs, and `/api/search` pages through
 * any number.
 */
const entityRunsLimit = 1000;
const eventParams = ["status", "source", "type", "since", "until", "limit", "cursor"];
/** The runs an event started, listed with it: one event starts one run per integration that listens to it. */
const runsOfEventLimit = 100;

/**
 * The operator's read API for runs and events: pages newest first with an opaque keyset cursor, filters on
 * indexed columns only (see read-api-store.ts), and a run's whole timeline. GET routes: the `viewer` role is enough (api-access.ts).
 */
export function registerReadApiRoutes(app: FastifyInstance, options: ReadApiRoutesOptions): void {
  const { storage, now } = options;

  app.get<{ Querystring: Query }>("/api/runs", async (request, reply) =>
    answerParams(
      reply,
      () => {
        const query = single(request.query, runParams);
        const at = now();
        const since = parseTime("since", query.since, at);
        const until = parseTime("until", query.until, at);
        checkWindow(since, until);
        const status = parseRunStatus(query.status);
        return {
          filter: {
            ...optional("status", status),
            ...optional("integrationId", query.integration),
            ...optional("errorContains", parseErrorText(query.error, status)),
            ...optional("since", since),
            ...optional("until", until),
          },
          entity: parseEntity(query.entity),
          after: parseRunCursor(query.cursor),
          limit: parsePageSize(query.limit),
        };
      },
      async ({ filter, entity, after, limit }) => {
        let runIds: string[] | undefined;
        if (entity) {
          runIds = (await storage.tags.findRuns(entity, { limit: entityRunsLimit })).map((run) => run.runId);
          if (runIds.length === 0) return { runs: [], nextCursor: null };
        }
        const page = await storage.readApi.pageRuns(runIds ? { ...filter, runIds } : filter, after, limit);
        return { runs: page.items.map(runToJson), nextCursor: page.next && runCursor(page.next) };
      },
    ),
  );

  app.get<{ Params: { id: string } }>("/api/runs/:id", async (request, reply) => {
    const timeline = await loadRunTimeline(storage, request.params.id, now());
    if (!timeline) return sendError(reply, 404, "unknown_run", `no run "${request.params.id}" is stored`);
    return runTimelineToJson(timeline);
  });

  app.get<{ Querystring: Query }>("/api/events", async (request, reply) =>
    answerParams(
      reply,
      () => {
        const query = single(request.query, eventParams);
        if (query.type !== undefined && query.source === undefined) {
          throw new ParamError(
            "invalid_filter",
            "type filters one source's events: pass source too (a type is a source's own name, e.g. source=stripe&type=charge.succeeded)",
          );
        }
        const at = now();
        const since = parseTime("since", query.since, at);
        const until = parseTime("until", query.until, at);
        checkWindow(since, until);
        return {
          filter: {
            ...optional("status", parseEventStatus(query.status)),
            ...optional("source", query.source),
            ...optional("type", query.type),
            ...optional("since", since),
            ...optional("until", until),
          },
          after: parseEventCursor(query.cursor),
          limit: parsePageSize(query.limit),
        };
      },
      async ({ filter, after, limit }) => {
        const page = await storage.readApi.pageEvents(filter, after, limit);
        return { events: page.items.map(eventToJson), nextCursor: page.next && eventCursor(page.next) };
      },
    ),
  );

  app.get<{ Params: { id: string } }>("/api/events/:id", async (request, reply) => {
    const event = await storage.getEvent(request.params.id);
    if (!event) return sendError(reply, 404, "unknown_event", `no event "${request.params.id}" is stored`);
    const runs = await storage.listRuns({ eventId: event.id, limit: runsOfEventLimit });
    return {
      event: { ...eventToJson(event), payload: JSON.parse(event.payloadJson) },
      runs: runs.map(runToJson),
    };
  });
}

/** Parses the query (a bad one answers 400 with what is wrong), then answers with `run`'s result. */
async function answerParams<P, R>(
  reply: FastifyReply,
  parse: () => P,
  run: (params: P) => Promise<R>,
): Promise<R | FastifyReply> {
  let params: P;
  try {
    params = parse();
  } catch (error) {
    if (error instanceof ParamError) return sendError(reply, 400, error.code, error.message);
    throw error;
  }
  return run(params);
}

/**
 * `error=<text>`: runs whose last error contains it, ignoring case. No index finds a substring, so it is allowed
 * only with `status=dead` or `status=failed`: the page then reads at most the dead (or failed) runs, newest first.
 */
function parseErrorText(value: string | undefined, status: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (status !== "dead" && status !== "failed") {
    throw new ParamError(
      "invalid_filter",
      "error filters dead letters: pass status=dead or status=failed with it (searching every run's error text would read them all)",
    );
  }
  if (value.length > maxErrorTextLength) {
    throw new ParamError("invalid_filter", `error is at most ${maxErrorTextLength} characters`);
  }
  return value;
}

/** Each known parameter at most once; an unknown one is a mistake the caller should hear about (a typo filters nothing). */
function parseEntity(value: string | undefined): EntityTag[] | undefined {
  if (value === undefined) return undefined;
  try {
    return parseEntityQuery(value);
  } catch (error) {
    if (error instanceof ValidationError) throw new ParamError("invalid_entity", error.message);
    throw error;
  }
}

function single(query: Query, known: string[]): Record<string, string | undefined> {
  const values: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(query)) {
    if (!known.includes(name)) {
      throw new ParamError("unknown_parameter", `unknown query parameter "${name}"; accepted: ${known.join(", ")}`);
    }
    if (Array.isArray(value)) throw new ParamError("repeated_parameter", `give ${name} once`);
    if (value === "") throw new ParamError("empty_parameter", `${name} is empty; leave it out or give a value`);
    values[name] = value;
  }
  return values;
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

const iso = (epochMs: number | null) => (epochMs === null ? null : new Date(epochMs).toISOString());

function runToJson(run: RunRecord) {
  return {
    id: run.id,
    integrationId: run.integrationId,
    eventId: run.eventId,
    status: run.status,
    waitingOn: run.waitingOn,
    failures: run.failures,
    lastError: run.lastError,
    createdAt: iso(run.createdAt),
    startedAt: iso(run.startedAt),
    finishedAt: iso(run.finishedAt),
    availableAt: iso(run.availableAt),
  };
}
