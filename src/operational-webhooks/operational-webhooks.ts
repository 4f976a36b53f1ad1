import type { Logger } from "pino";
import type { AlertNotification } from "../alerting/notification.ts";
import type { ConnectionConfig } from "../connections/connection-config.ts";
import type { Clock } from "../runtime/clock.ts";
import type { Integration } from "../sdk/define-integration.ts";
import type { Storage } from "../storage/contract.ts";
import { fanOut, type SendDelivery } from "./fan-out.ts";
import { alertOccurrence, type LinkTo } from "./occurrence.ts";
import { OccurrencePump } from "./occurrence-pump.ts";
import {
  describeSubscribers,
  type OperationalWebhooksConfig,
  resolveSigningSecrets,
  type Subscriber,
} from "./operational-webhooks-config.ts";
import { type Delivery, subscriberDelivery } from "./subscriber-delivery.ts";

/**
 * Operational webhooks for one process, from the config's `operationalWebhooks`: each subscriber's delivery
 * integration (its secrets read now, so a missing one stops the start with its name) and the connection it sends
 * through, the pump that turns what happened into deliveries, and the alert evaluator's hook for alert
 * notifications. The caller adds the integrations and connections to the engine's, and starts the pump once
 * the engine runs.
 */
export interface OperationalWebhooks {
  integrations: Integration<Delivery>[];
  connections: Record<string, ConnectionConfig>;
  subscribers: readonly Subscriber[];
  pump: OccurrencePump;
  /** The alert evaluator's `onNotification`: an alert's first firing notification and its resolution go out. */
  tellAlert(notification: AlertNotification): Promise<void>;
}

/** How often the pump reads, and how far behind now: see OccurrencePumpOptions. */
export const pumpEveryMs = 5_000;
export const defaultSettleMs = 10_000;

export function createOperationalWebhooks(options: {
  config: OperationalWebhooksConfig;
  storage: Storage;
  clock: Clock;
  logger: Logger;
  /** Links in deliveries start with it (TENON_PUBLIC_URL); relative without it. */
  publicUrl: string | undefined;
  /** Stores an event durably (the engine's send); a second one with the same id is a duplicate. */
  send: SendDelivery;
  /** How far behind now the pump reads; at least twice the drift learner's persistence period. */
  settleMs?: number;
}): OperationalWebhooks {
  const { config, storage, clock, logger } = options;
  const store = storage.operationalWebhooks;
  const integrations: Integration<Delivery>[] = [];
  const connections: Record<string, ConnectionConfig> = {};
  const subscribers: Subscriber[] = describeSubscribers(config);
  const secretValues: string[] = [];
  for (const [name, subscriber] of Object.entries(config)) {
    const secrets = resolveSigningSecrets(name, subscriber.secrets);
    secretValues.push(...secrets);
    const delivery = subscriberDelivery(name, {
      url: subscriber.url,
      secrets,
      store,
      clock,
      // The receiver checks the timestamp against its wall clock (replay protection): so is it signed.
      now: Date.now,
    });
    integrations.push(delivery.integration);
    connections[delivery.connection.id] = delivery.connection.config;
  }
  const base = options.publicUrl?.replace(/\/+$/, "") ?? "";
  const linkTo: LinkTo = (path) => `${base}${path}`;
  const deliver = (occurrences: Parameters<typeof fanOut>[0]) => fanOut(occurrences, subscribers, store, options.send);
  const pump = new OccurrencePump({
    store,
    clock,
    logger,
    subscribers,
    everyMs: pumpEveryMs,
    settleMs: options.settleMs ?? defaultSettleMs,
    linkTo,
    secretValues,
    fanOut: deliver,
  });
  return {
    integrations,
    connections,
    subscribers,
    pump,
    async tellAlert(notification) {
      const occurrence = alertOccurrence(notification);
      if (!occurrence) return;
      // Sent before the evaluator saves the alert: re-sent after a crash, it is a duplicate by id. Its skips are
      // counted at once; a re-send after a crash may count them twice, never deliver twice.
      for (const [name, count] of await deliver([occurrence])) await store.addSkipped(name, count);
    },
  };
}
