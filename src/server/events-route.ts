import type { FastifyInstance } from "fastify";
import type { Logger } from "pino";
import type { Engine, SendEventInput } from "../engine/engine.ts";
import { sha256Hex } from "../ingestion/webhooks/hmac.ts";
import { ValidationError } from "../sdk/errors.ts";
import type { AcceptResult } from "../storage/contract.ts";
import { sendError, sendStorageUnavailable } from "./http-errors.ts";

export interface EventsRouteOptions {
  engine: Engine;
  logger: Logger;
  bodyLimit: number;
  /** Sources an API caller may not claim: webhook sources, poll sources, "schedule". */
  reservedSources: ReadonlySet<string>;
}

const maxIdempotencyKeyLength = 255;

/**
 * `POST /api/events` for systems that call us: `{ type, payload, id?, source? }` with a bearer token.
 *
 * `Idempotency-Key` follows the IETF draft (draft-ietf-httpapi-idempotency-key-header): the same key
 * with the same body gets the original result back; with a different body, 422; while the first
 * request is still being committed, 409. The key is stored as the event's dedup key and the body's
 * SHA-256 as its fingerprint, in the same transaction as the event, so the rule survives restarts.
 */
export function registerEventsRoute(app: FastifyInstance, options: EventsRouteOptions): void {
  const { engine, logger } = options;
  const inFlight = new Set<string>();

  // A system that sends events starts runs, which act on other systems: operator, as replaying does. Not in the
  // operator log: the event is its own record, and a row per event would double the cost of taking one.
  const config = { role: "operator", operatorLog: false } as const;
  app.post("/api/events", { bodyLimit: options.bodyLimit, config }, async (request, reply) => {
    if (!isJsonContentType(request.headers["content-type"])) {
      return sendError(reply, 415, "unsupported_content_type", "the event API takes application/json");
    }
    const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    let body: unknown;
    try {
      body = JSON.parse(raw.toString("utf8"));
    } catch (error) {
      return sendError(reply, 400, "invalid_json", `the body is not valid JSON: ${(error as Error).message}`);
    }
    if (typeof body !== "object" || body === null || Array.isArray(body)) {
      return sendError(reply, 400, "invalid_event", "the body must be a JSON object { type, payload, id?, source? }");
    }
    const input = body as SendEventInput;
    if (input.source !== undefined && options.reservedSources.has(input.source)) {
      return sendError(
        reply,
        400,
        "reserved_source",
        `source "${String(input.source)}" belongs to a webhook, poll or schedule source; API events cannot claim it`,
      );
    }

    const key = headerValue(request.headers["idempotency-key"]);
    if (key !== undefined && (key.length === 0 || key.length > maxIdempotencyKeyLength)) {
      return sendError(
        reply,
        400,
        "invalid_idempotency_key",
        `Idempotency-Key must be 1-${maxIdempotencyKeyLength} characters`,
      );
    }
    const event: SendEventInput = key === undefined ? input : { ...input, id: `idempotency-key:${key}` };
    const fingerprint = key === undefined ? undefined : sha256Hex(raw);
    const inFlightKey = `${event.source ?? "api"}\u0000${key}`;
    if (key !== undefined && inFlight.has(inFlightKey)) {
      reply.header("retry-after", "1");
      return sendError(
        reply,
        409,
        "idempotency_key_in_flight",
        "a request with this Idempotency-Key is still being processed; retry shortly to get its result",
      );
    }

    if (key !== undefined) inFlight.add(inFlightKey);
    let result: AcceptResult;
    try {
      result = await engine.send(event, fingerprint === undefined ? {} : { fingerprint });
    } catch (error) {
      if (error instanceof ValidationError) return sendError(reply, 400, "invalid_event", error.message);
      logger.error({ err: (error as Error).message }, "storing an API event failed");
      return sendStorageUnavailable(reply, 5);
    } finally {
      if (key !== undefined) inFlight.delete(inFlightKey);
    }

    if (key !== undefined && result.duplicate) {
      if (result.fingerprint !== fingerprint) {
        return sendError(
          reply,
          422,
          "idempotency_key_reused",
          "this Idempotency-Key was already used with a different request body; use a new key for a new event",
        );
      }
      // The original answer again, marked as a replay (as Stripe does).
      reply.header("idempotent-replayed", "true");
      return reply.code(202).send({ id: result.eventId, duplicate: false });
    }
    return reply.code(202).send({ id: result.eventId, duplicate: result.duplicate });
  });
}

function isJsonContentType(value: string | undefined): boolean {
  return value !== undefined && /^application\/([\w.+-]+\+)?json\s*(;|$)/i.test(value);
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
