import type { Cron } from "croner";
import { type AlertRulesConfig, resolveRules } from "../../src/alerting/alert-config.ts";
import { AlertEvaluator } from "../../src/alerting/alert-evaluator.ts";
import type { AlertNotification } from "../../src/alerting/notification.ts";
import type { Clock } from "../../src/runtime/clock.ts";
import type { Storage } from "../../src/storage/contract.ts";
import { silentLogger } from "./engine.ts";

export interface SentNotification {
  channel: string;
  notification: AlertNotification;
}

/** An alert evaluator whose deliveries are recorded in `sent` (in place of the engine's durable events). */
export function testAlertEvaluator(
  storage: Storage,
  clock: Clock,
  rules: AlertRulesConfig,
  options: {
    renotifyAfterMs?: number;
    recoverAfterMs?: number;
    channels?: string[];
    connectionIds?: string[];
    renewedConnectionIds?: string[];
    pollIds?: string[];
    schedules?: { integrationId: string; cron: Cron }[];
  } = {},
): { alerts: AlertEvaluator; sent: SentNotification[] } {
  const sent: SentNotification[] = [];
  const channels = options.channels ?? ["ops"];
  const alerts = new AlertEvaluator({
    storage,
    clock,
    logger: silentLogger,
    rules: resolveRules(rules),
    evaluateEveryMs: 15_000,
    renotifyAfterMs: options.renotifyAfterMs ?? 4 * 3_600_000,
    recoverAfterMs: options.recoverAfterMs ?? 0,
    publicUrl: "https://tenon.example.com",
    connectionIds: options.connectionIds ?? [],
    renewedConnectionIds: new Set(options.renewedConnectionIds ?? []),
    pollIds: options.pollIds ?? [],
    schedules: options.schedules ?? [],
    channelIntegrations: new Map(channels.map((channel) => [channel, `tenon-alerts.${channel}`])),
    deliver: async (channel, notification) => {
      sent.push({ channel, notification });
    },
  });
  return { alerts, sent };
}
