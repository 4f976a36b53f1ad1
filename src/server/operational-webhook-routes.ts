import type { FastifyInstance } from "fastify";
import type { Subscriber } from "../operational-webhooks/operational-webhooks-config.ts";
import { listSubscribers, subscriberToJson } from "../operational-webhooks/subscriber-json.ts";
import type { OperationalWebhookStore } from "../storage/operational-webhook-store.ts";
import { sendError } from "./http-errors.ts";

const operator = { config: { role: "operator" } } as const;

/**
 * `GET /api/operational-webhooks` (viewer): each configured subscriber, its URL without secret query
 * parameters, its events and its delivery health. `POST /api/operational-webhooks/:name/enable` (operator,
 * written to the operator log): a disabled subscriber gets deliveries again, its failures forgotten.
 */
export function registerOperationalWebhookRoutes(
  app: FastifyInstance,
  options: { subscribers: readonly Subscriber[]; store: OperationalWebhookStore; now: () => number },
): void {
  const { subscribers, store } = options;
  app.get("/api/operational-webhooks", async () => ({ webhooks: await listSubscribers(subscribers, store) }));

  // `:id` like every route with a target: the operator log records it as the call's target.
  app.post<{ Params: { id: string } }>("/api/operational-webhooks/:id/enable", operator, async (request, reply) => {
    const subscriber = subscribers.find((candidate) => candidate.name === request.params.id);
    if (!subscriber) {
      const known = subscribers.map((candidate) => candidate.name).join(", ") || "none";
      return sendError(
        reply,
        404,
        "unknown_webhook",
        `no operational webhook "${request.params.id}" is configured; configured: ${known}`,
      );
    }
    const before = await store.getSubscriberHealth(subscriber.name);
    const health = await store.enableSubscriber(subscriber.name, options.now());
    request.operatorLogDetail =
      before?.disabledAt != null
        ? `enabled ${subscriber.name} (disabled since ${new Date(before.disabledAt).toISOString()})`
        : `enabled ${subscriber.name} (it was not disabled; its failures are forgotten)`;
    return { webhook: subscriberToJson(subscriber, health) };
  });
}
