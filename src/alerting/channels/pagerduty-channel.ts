import { type AlertNotification, hasAbsoluteLink } from "../notification.ts";
import { type AlertChannel, channelConnectionId } from "./alert-channel.ts";

const severities = { critical: "critical", warning: "warning", info: "info" } as const;

/**
 * A PagerDuty Events API v2 event (https://developer.pagerduty.com/docs/events-api-v2/overview/): `trigger` while
 * firing, `resolve` when resolved, both with the alert's fingerprint as `dedup_key`, so PagerDuty keeps one
 * incident per alert and closes it.
 */
export function pagerDutyEvent(n: AlertNotification, routingKey: string) {
  if (n.status === "resolved") return { routing_key: routingKey, event_action: "resolve", dedup_key: n.fingerprint };
  return {
    routing_key: routingKey,
    event_action: "trigger",
    dedup_key: n.fingerprint,
    payload: {
      summary: n.summary.slice(0, 1024),
      source: `tenon ${n.subject}`,
      severity: severities[n.severity],
      timestamp: n.startsAt,
      component: n.subject,
      class: n.rule,
      custom_details: { ...n.labels, count: n.count, notification: n.number },
    },
    ...(hasAbsoluteLink(n) ? { links: [{ href: n.link, text: "Open in Tenon" }] } : {}),
  };
}

export function pagerDutyChannel(name: string, options: { routingKey: string; url: string }): AlertChannel {
  const url = new URL(options.url);
  const id = channelConnectionId(name);
  return {
    connection: {
      id,
      config: {
        baseUrl: url.origin,
        circuit: { failureThreshold: 5, cooldown: "1m" },
        idempotencyHeader: false,
        // The routing key travels in the body: the audit trail shows it redacted.
        audit: { redactFields: ["routing_key"] },
      },
    },
    async send(notification, connection) {
      const path = `${url.pathname.replace(/\/$/, "")}/v2/enqueue`;
      await connection(id).request({ method: "POST", path, json: pagerDutyEvent(notification, options.routingKey) });
    },
  };
}
