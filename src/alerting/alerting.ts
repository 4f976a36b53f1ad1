import { Cron } from "croner";
import type { Logger } from "pino";
import type { ConnectionConfig } from "../connections/connection-config.ts";
import type { Clock } from "../runtime/clock.ts";
import { defineIntegration, type Integration } from "../sdk/define-integration.ts";
import { durationToMs } from "../sdk/duration.ts";
import { resolveSecret } from "../sdk/secret-from-env.ts";
import type { Storage } from "../storage/contract.ts";
import { type AlertChannelConfig, type AlertsConfig, resolveRules } from "./alert-config.ts";
import { AlertEvaluator } from "./alert-evaluator.ts";
import type { AlertChannel } from "./channels/alert-channel.ts";
import { emailChannel } from "./channels/email-channel.ts";
import { pagerDutyChannel } from "./channels/pagerduty-channel.ts";
import { slackChannel } from "./channels/slack-channel.ts";
import { webhookChannel } from "./channels/webhook-channel.ts";
import type { AlertNotification } from "./notification.ts";

/** Where notifications come from, as events: the source of every delivery run's event. */
export const alertEventSource = "tenon-alerts";

/** The integration that delivers a channel's notifications, and the event type that starts it. */
export function deliveryIntegrationId(channel: string): string {
  return `tenon-alerts.${channel}`;
}

/** The channel a delivery event's type (a delivery integration's id) is for; null for another type. */
export function deliveryChannel(type: string): string | null {
  return type.startsWith("tenon-alerts.") ? type.slice("tenon-alerts.".length) : null;
}

/**
 * Alerting for one process, from the config's `alerts` section: the channels (their secrets read now, so a
 * missing one stops the start with its name), one built-in delivery integration per channel, the connections
 * its HTTP channels send through, and the evaluator. The caller adds the integrations and connections to the
 * engine's, and starts the evaluator once the engine runs.
 */
export interface Alerting {
  integrations: Integration<AlertNotification>[];
  connections: Record<string, ConnectionConfig>;
  evaluator: AlertEvaluator;
  close(): void;
}

export function createAlerting(options: {
  config: AlertsConfig;
  storage: Storage;
  clock: Clock;
  logger: Logger;
  publicUrl: string | undefined;
  /** The connections and poll sources the config declares (the circuit and poll rules read them). */
  connectionIds: readonly string[];
  /** Those whose credentials Tenon renews itself (OAuth 2): no alert for their access token's expiry. */
  renewedConnectionIds?: ReadonlySet<string>;
  pollIds: readonly string[];
  /** The config's integrations: the scheduled ones are watched for missed ticks. */
  integrations: readonly Integration<unknown>[];
  /** Stores an event durably (the engine's send); a second one with the same id is a duplicate. */
  send: (event: { type: string; source: string; id: string; payload: AlertNotification }) => Promise<unknown>;
  /** Sees each notification once: operational webhooks' `tellAlert`. */
  onNotification?: (notification: AlertNotification) => Promise<void>;
  /** The configured operational webhook subscribers, watched by the webhookDisabled rule. */
  webhookSubscribers?: readonly string[];
}): Alerting {
  const { config, clock, logger } = options;
  const publicUrl = config.publicUrl ?? options.publicUrl;
  const channels = new Map<string, AlertChannel>(
    Object.entries(config.channels).map(([name, channel]) => [name, makeChannel(name, channel, publicUrl)]),
  );
  const channelIntegrations = new Map([...channels.keys()].map((name) => [name, deliveryIntegrationId(name)]));
  const integrations = [...channels].map(([name, channel]) =>
    defineIntegration<AlertNotification>({
      id: deliveryIntegrationId(name),
      trigger: { event: deliveryIntegrationId(name), source: alertEventSource },
      // Standard Webhooks' schedule, roughly: a channel down for hours still gets every notification.
      retries: { maxAttempts: 12, initialDelay: "5s", maxDelay: "30m" },
      run: async ({ event, step, connection }) => {
        await step.run("send", () => channel.send(event.payload, connection));
      },
    }),
  );
  const connections = Object.fromEntries(
    [...channels.values()].flatMap((channel) =>
      channel.connection ? [[channel.connection.id, channel.connection.config]] : [],
    ),
  );
  const evaluator = new AlertEvaluator({
    storage: options.storage,
    clock,
    logger,
    rules: resolveRules(config.rules),
    evaluateEveryMs: durationToMs(config.evaluateEvery ?? "15s"),
    renotifyAfterMs: durationToMs(config.renotifyAfter ?? "4h"),
    recoverAfterMs: durationToMs(config.recoverAfter ?? 0),
    publicUrl,
    connectionIds: options.connectionIds,
    ...(options.renewedConnectionIds ? { renewedConnectionIds: options.renewedConnectionIds } : {}),
    pollIds: options.pollIds,
    schedules: options.integrations.flatMap((integration) =>
      "cron" in integration.trigger
        ? [
            {
              integrationId: integration.id,
              cron: new Cron(integration.trigger.cron, {
                paused: true,
                ...(integration.trigger.timezone ? { timezone: integration.trigger.timezone } : {}),
              }),
            },
          ]
        : [],
    ),
    channelIntegrations,
    ...(options.onNotification ? { onNotification: options.onNotification } : {}),
    ...(options.webhookSubscribers ? { webhookSubscribers: options.webhookSubscribers } : {}),
    deliver: async (channel, notification) => {
      await options.send({
        type: deliveryIntegrationId(channel),
        source: alertEventSource,
        id: `${notification.id}.${channel}`,
        payload: notification,
      });
    },
  });
  return {
    integrations,
    connections,
    evaluator,
    close() {
      for (const channel of channels.values()) channel.close?.();
    },
  };
}

function makeChannel(name: string, config: AlertChannelConfig, publicUrl: string | undefined): AlertChannel {
  switch (config.type) {
    case "webhook":
      return webhookChannel(name, {
        url: config.url,
        secrets: config.secrets.map(resolveSecret),
        externalUrl: publicUrl ?? "",
        // The receiver checks the timestamp against its wall clock (replay protection): so is it signed.
        now: Date.now,
      });
    case "slack":
      return slackChannel(name, resolveSecret(config.webhookUrl));
    case "pagerduty":
      return pagerDutyChannel(name, {
        routingKey: resolveSecret(config.routingKey),
        url: config.url ?? "https://events.pagerduty.com",
      });
    case "email": {
      const { smtp } = config;
      return emailChannel({
        smtp: {
          host: smtp.host,
          port: smtp.port,
          secure: smtp.secure ?? smtp.port === 465,
          ...(smtp.user === undefined ? {} : { user: smtp.user }),
          ...(smtp.password === undefined ? {} : { password: resolveSecret(smtp.password) }),
        },
        from: config.from,
        to: config.to,
        messageIdHost: publicUrl ? new URL(publicUrl).hostname : "tenon.local",
      });
    }
  }
}
