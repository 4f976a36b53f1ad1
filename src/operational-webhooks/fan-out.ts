import type { OperationalWebhookStore } from "../storage/operational-webhook-store.ts";
import { envelopeOf, type Occurrence, webhookIdOf } from "./occurrence.ts";
import { type Subscriber, wants } from "./operational-webhooks-config.ts";
import { type Delivery, deliveryEventSource, deliveryIntegrationId } from "./subscriber-delivery.ts";

/** Stores an event durably (the engine's send); a second one with the same (source, id) is a duplicate. */
export type SendDelivery = (event: { type: string; source: string; id: string; payload: Delivery }) => Promise<unknown>;

/**
 * Starts one delivery run per (occurrence, subscriber that wants it), each by an event whose id is the delivery's
 * `webhook-id`: sent again (the pump re-reading after a crash, the evaluator re-sending a notification) it is a
 * duplicate, and nothing is delivered twice. A disabled subscriber gets nothing: the occurrences it would have
 * had are counted, and the counts returned for the caller to add once its own progress is saved.
 */
export async function fanOut(
  occurrences: readonly Occurrence[],
  subscribers: readonly Subscriber[],
  store: OperationalWebhookStore,
  send: SendDelivery,
): Promise<Map<string, number>> {
  const skipped = new Map<string, number>();
  if (occurrences.length === 0 || subscribers.length === 0) return skipped;
  const disabled = new Set(
    (await store.listSubscriberHealth()).filter((health) => health.disabledAt !== null).map((health) => health.name),
  );
  const sends: Promise<unknown>[] = [];
  for (const occurrence of occurrences) {
    for (const subscriber of subscribers) {
      if (!wants(subscriber, occurrence.type) || occurrence.aboutSubscriber === subscriber.name) continue;
      if (disabled.has(subscriber.name)) {
        skipped.set(subscriber.name, (skipped.get(subscriber.name) ?? 0) + 1);
        continue;
      }
      const webhookId = webhookIdOf(occurrence.id, subscriber.name);
      sends.push(
        send({
          type: deliveryIntegrationId(subscriber.name),
          source: deliveryEventSource,
          id: webhookId,
          payload: { webhookId, envelope: envelopeOf(occurrence) },
        }),
      );
    }
  }
  // Together, so that the engine commits them in as few transactions as it can.
  await Promise.all(sends);
  return skipped;
}
