import { Webhook } from "standardwebhooks";
import type { AlertNotification } from "../notification.ts";
import { type AlertChannel, channelConnectionId } from "./alert-channel.ts";

/** Alertmanager's "zero" time, which it sends as `endsAt` while an alert fires. */
const stillFiring = "0001-01-01T00:00:00Z";

/**
 * The body, shaped like Alertmanager's webhook (version 4): receivers written for Alertmanager read it as is.
 * One alert per notification; `groupKey` is the alert's fingerprint.
 */
export function alertmanagerBody(channel: string, n: AlertNotification, externalUrl: string) {
  const labels = { alertname: n.rule, severity: n.severity, subject: n.subject, ...n.labels };
  return {
    version: "4",
    groupKey: n.fingerprint,
    truncatedAlerts: 0,
    status: n.status,
    receiver: channel,
    groupLabels: { alertname: n.rule },
    commonLabels: labels,
    commonAnnotations: { summary: n.summary },
    externalURL: externalUrl,
    alerts: [
      {
        status: n.status,
        labels,
        annotations: { summary: n.summary, count: String(n.count) },
        startsAt: n.startsAt,
        endsAt: n.endsAt ?? stillFiring,
        generatorURL: n.link,
        fingerprint: n.fingerprint,
      },
    ],
  };
}

/**
 * A signed webhook per Standard Webhooks (https://www.standardwebhooks.com): `webhook-id` is the notification's
 * id (the same on every retry, so the receiver can deduplicate), `webhook-timestamp` the send time, and
 * `webhook-signature` one `v1,<base64>` per secret (two during a rotation), space-separated.
 */
export function webhookChannel(
  name: string,
  options: { url: string; secrets: string[]; externalUrl: string; now: () => number },
): AlertChannel {
  const url = new URL(options.url);
  const signers = options.secrets.map((secret) => new Webhook(secret));
  const id = channelConnectionId(name);
  return {
    connection: {
      id,
      config: {
        baseUrl: url.origin,
        // Standard Webhooks: any answer but a 2xx is a failed delivery to retry; a 401 from the receiver is not
        // Tenon's credentials being rejected (there are none to fix), so it must not pause the deliveries.
        answers: "webhook",
        circuit: { failureThreshold: 5, cooldown: "1m" },
        idempotencyHeader: false,
      },
    },
    async send(notification, connection) {
      const body = JSON.stringify(alertmanagerBody(name, notification, options.externalUrl));
      const sentAt = new Date(options.now());
      const signature = signers.map((signer) => signer.sign(notification.id, sentAt, body)).join(" ");
      await connection(id).request({
        method: "POST",
        path: `${url.pathname}${url.search}`,
        body,
        headers: {
          "content-type": "application/json",
          "webhook-id": notification.id,
          "webhook-timestamp": String(Math.floor(sentAt.getTime() / 1000)),
          "webhook-signature": signature,
        },
      });
    },
  };
}
