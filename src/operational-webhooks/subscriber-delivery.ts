import { Webhook } from "standardwebhooks";
import type { ConnectionConfig } from "../connections/connection-config.ts";
import type { Clock } from "../runtime/clock.ts";
import { defineIntegration, type Integration } from "../sdk/define-integration.ts";
import type { Duration } from "../sdk/duration.ts";
import type { OperationalWebhookStore } from "../storage/operational-webhook-store.ts";
import type { WebhookEnvelope } from "./occurrence.ts";

/** Where deliveries come from, as events: the source of every delivery run's event. */
export const deliveryEventSource = "tenon-webhooks";

/** The integration that delivers a subscriber's occurrences, and the event type that starts it. */
export function deliveryIntegrationId(subscriber: string): string {
  return `tenon-webhooks.${subscriber}`;
}

/** The subscriber whose deliveries an integration makes; undefined for any other integration. */
export function subscriberOfIntegration(integrationId: string): string | undefined {
  return integrationId.startsWith("tenon-webhooks.") ? integrationId.slice("tenon-webhooks.".length) : undefined;
}

/** The connection a subscriber's deliveries are sent through: audited, rate-limited like any call. */
export function deliveryConnectionId(subscriber: string): string {
  return `webhooks-${subscriber}`;
}

/**
 * Standard Webhooks' retry schedule (https://www.standardwebhooks.com, as Svix sends): at once, then after
 * 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h; a delivery is given up about 28 hours after its first attempt.
 */
export const standardWebhooksSchedule: Duration[] = ["5s", "5m", "30m", "2h", "5h", "10h", "10h"];

/** The payload of the event that starts a delivery run: what to send, under which `webhook-id`. */
export interface Delivery {
  webhookId: string;
  envelope: WebhookEnvelope;
}

/**
 * One subscriber's delivery: the built-in integration whose runs each POST one occurrence, signed, and the
 * connection they send through. A run is journaled and retried on Standard Webhooks' schedule like any run; its
 * success is noted in the subscriber's health (a death is read from the run by the pump, which alone sees it).
 */
export function subscriberDelivery(
  name: string,
  options: { url: string; secrets: string[]; store: OperationalWebhookStore; clock: Clock; now: () => number },
): { integration: Integration<Delivery>; connection: { id: string; config: ConnectionConfig } } {
  const url = new URL(options.url);
  const signers = options.secrets.map((secret) => new Webhook(secret));
  const connectionId = deliveryConnectionId(name);
  const integration = defineIntegration<Delivery>({
    id: deliveryIntegrationId(name),
    trigger: { event: deliveryIntegrationId(name), source: deliveryEventSource },
    retries: { schedule: standardWebhooksSchedule },
    run: async ({ event, step, connection }) => {
      await step.run("deliver", async () => {
        const { webhookId, envelope } = event.payload;
        // The same bytes on every attempt (the envelope is journaled in the event); a fresh timestamp, as the
        // receiver checks it against its clock to refuse replays.
        const body = JSON.stringify(envelope);
        const sentAt = new Date(options.now());
        await connection(connectionId).request({
          method: "POST",
          path: `${url.pathname}${url.search}`,
          body,
          headers: {
            "content-type": "application/json",
            "webhook-id": webhookId,
            "webhook-timestamp": String(Math.floor(sentAt.getTime() / 1000)),
            // One `v1,<base64>` per secret, space-separated: a receiver mid-rotation accepts either.
            "webhook-signature": signers.map((signer) => signer.sign(webhookId, sentAt, body)).join(" "),
          },
        });
      });
      await step.run("note-success", () => options.store.recordDeliverySuccess(name, options.clock.now()));
    },
  });
  return {
    integration,
    connection: {
      id: connectionId,
      config: {
        baseUrl: url.origin,
        // Any answer but a 2xx is a failed delivery, retried on the schedule; no circuit: each delivery keeps its
        // own schedule (a circuit would hold them waiting, and the dead ones are what disables a subscriber).
        answers: "webhook",
        circuit: false,
        idempotencyHeader: false,
        timeouts: { connect: "10s", headers: "15s", body: "15s" },
      },
    },
  };
}
