import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Logger } from "pino";
import type { EventObserver } from "../drift/drift-learner.ts";
import type { Engine } from "../engine/engine.ts";
import { bodyDedupKey } from "../ingestion/webhooks/hmac.ts";
import type { InboundEvent, WebhookRequest } from "../ingestion/webhooks/webhook-provider.ts";
import { UnparseableBodyError } from "../ingestion/webhooks/webhook-provider.ts";
import type { WebhookSource } from "../ingestion/webhooks/webhook-sources.ts";
import { ValidationError } from "../sdk/errors.ts";
import { isMissingSecretError } from "../sdk/secret-from-env.ts";
import type { AcceptResult } from "../storage/contract.ts";
import { isStorableText } from "../storage/storable-text.ts";
import { sendError, sendStorageUnavailable } from "./http-errors.ts";

export interface HooksRouteOptions {
  engine: Engine;
  sources: ReadonlyMap<string, WebhookSource>;
  /** Counts a rejected request (they are never stored); accepted ones are counted by the engine as it commits them. */
  onRejected: (source: string, check: string) => void;
  logger: Logger;
  bodyLimit: number;
  /** The public base URL providers call (`https://hooks.example.com`); signed URLs (Twilio, HubSpot) are rebuilt from it. */
  publicUrl: string | undefined;
  now: () => number;
  /** Sees each new event's payload once it is stored (the drift learner); it must only take a reference and return. */
  observeEvent?: EventObserver;
}

type HookRequest = FastifyRequest<{ Params: { source: string } }>;

/** A missing secret needs a person: providers may as well wait a minute before sending again. */
const misconfiguredRetryAfterSec = 60;

/**
 * `POST /hooks/:source`: verify the raw bytes, dedupe on the provider's id,
 * commit the events and their runs, then answer. Processing starts after the answer.
 */
export function registerHooksRoute(app: FastifyInstance, options: HooksRouteOptions): void {
  const { engine, sources, onRejected, logger } = options;

  app.post<{ Params: { source: string } }>("/hooks/:source", {
    bodyLimit: options.bodyLimit,
    // Before the body is read: an unknown source costs nothing and its body is never buffered.
    onRequest: async (request, reply) => {
      // The configured sources are not listed: this answer goes to whoever on the internet asks.
      if (!sources.has(request.params.source)) {
        return sendError(reply, 404, "unknown_source", `no webhook source "${request.params.source}" is configured`);
      }
    },
    handler: async (request, reply) => {
      const source = sources.get(request.params.source) as WebhookSource;
      let secrets: readonly string[];
      try {
        secrets = source.resolveSecrets();
      } catch (error) {
        if (!isMissingSecretError(error)) throw error;
        return sendSourceMisconfigured(reply, source, error.variable);
      }
      const webhook = toWebhookRequest(request, options.publicUrl);
      const verdict = source.provider.verify(webhook, {
        secrets,
        now: options.now(),
        toleranceSec: source.toleranceSec,
      });
      if (!verdict.ok) {
        onRejected(source.id, verdict.check);
        logger.debug({ source: source.id, check: verdict.check }, "webhook rejected");
        // Says which check failed, never which secret was tried; the body is not stored.
        return sendError(reply, 401, errorCodeOf(verdict.check), verdict.message);
      }

      let events: InboundEvent[];
      try {
        const parsed = source.provider.parse(webhook);
        if (parsed.reply) {
          return reply.code(parsed.reply.status).type(parsed.reply.contentType).send(parsed.reply.body);
        }
        events = parsed.events;
      } catch (error) {
        if (!(error instanceof UnparseableBodyError)) throw error;
        return quarantine(reply, source, webhook, error.message);
      }

      let results: AcceptResult[];
      try {
        results = await Promise.all(
          events.map((e) =>
            engine.send({
              source: source.id,
              type: e.type,
              id: e.dedupKey,
              payload: e.payload,
              payloadJson: e.payloadJson,
            }),
          ),
        );
      } catch (error) {
        // Verified, but not storable as given (a type too long, a payload JSON cannot hold): keep it for the operator.
        if (error instanceof ValidationError) return quarantine(reply, source, webhook, error.message);
        logger.error({ source: source.id, err: (error as Error).message }, "storing a webhook failed");
        return sendStorageUnavailable(reply, 5);
      }
      if (options.observeEvent) {
        for (const [index, event] of events.entries()) {
          if (results[index]?.duplicate === false) options.observeEvent(source.id, event.type, event.payload);
        }
      }
      const answers = results.map((r) => ({ id: r.eventId, duplicate: r.duplicate }));
      // One event per request for every provider but HubSpot, which batches.
      return reply.code(200).send(answers.length === 1 ? answers[0] : { events: answers });
    },
  });

  /**
   * Nothing can be verified without the secret, so nothing is stored; a 5xx makes the provider send it
   * again once the operator has set the variable. The variable is named in the log, not to the caller.
   */
  function sendSourceMisconfigured(reply: FastifyReply, source: WebhookSource, variable: string) {
    logger.error(
      { source: source.id, variable },
      `webhook source "${source.id}" cannot verify requests: the environment variable ${variable} holding its signing secret is not set; set it and restart Tenon`,
    );
    reply.header("retry-after", String(misconfiguredRetryAfterSec));
    return sendError(
      reply,
      503,
      "source_misconfigured",
      `webhook source "${source.id}" cannot verify requests until its operator configures it; nothing was stored, retry later`,
    );
  }

  async function quarantine(reply: FastifyReply, source: WebhookSource, webhook: WebhookRequest, reason: string) {
    let result: AcceptResult;
    try {
      result = await engine.quarantine({
        source: source.id,
        type: "unparseable",
        id: usableDeliveryId(source.provider.deliveryIdFromHeaders(webhook)) ?? bodyDedupKey(webhook.rawBody),
        payload: rawPayload(webhook),
        reason,
      });
    } catch (error) {
      logger.error({ source: source.id, err: (error as Error).message }, "storing a quarantined webhook failed");
      return sendStorageUnavailable(reply, 5);
    }
    logger.warn({ source: source.id, eventId: result.eventId, reason }, "webhook quarantined");
    // 202: the provider must stop retrying (a retry would carry the same bytes); the operator sees the reason.
    return reply.code(202).send({ id: result.eventId, duplicate: result.duplicate, quarantined: true, reason });
  }
}

function toWebhookRequest(request: HookRequest, publicUrl: string | undefined): WebhookRequest {
  const headers: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    headers[name] = Array.isArray(value) ? value[0] : value;
  }
  const base = publicUrl ?? `${request.protocol}://${request.host}`;
  return {
    method: request.method,
    url: `${base}${request.url}`,
    headers,
    rawBody: Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0),
  };
}

/** How a webhook whose body could not be parsed is stored (`tenon events show` prints the body as it came). */
export interface RawWebhookPayload {
  contentType: string | null;
  encoding: "utf8" | "base64";
  body: string;
}

/** The bytes as they came, kept losslessly: as text when they are UTF-8, else base64. */
function rawPayload(webhook: WebhookRequest): RawWebhookPayload {
  const contentType = webhook.headers["content-type"] ?? null;
  try {
    return { contentType, encoding: "utf8", body: new TextDecoder("utf-8", { fatal: true }).decode(webhook.rawBody) };
  } catch {
    return { contentType, encoding: "base64", body: webhook.rawBody.toString("base64") };
  }
}

/** A delivery header too long (or odd) to be an event id still dedupes: by the body's hash instead. */
function usableDeliveryId(id: string | null): string | null {
  return id !== null && id.length <= 500 && isStorableText(id) ? id : null;
}

function errorCodeOf(check: string): string {
  switch (check) {
    case "missing-header":
      return "signature_missing";
    case "timestamp":
      return "timestamp_out_of_tolerance";
    default:
      return "signature_invalid";
  }
}
