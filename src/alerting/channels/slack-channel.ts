import { type AlertNotification, hasAbsoluteLink } from "../notification.ts";
import { type AlertChannel, channelConnectionId } from "./alert-channel.ts";

const icons = { critical: ":red_circle:", warning: ":large_orange_circle:", info: ":large_blue_circle:" } as const;

/**
 * A Slack message in Block Kit (https://api.slack.com/block-kit): a header, the summary, fields, a context line
 * and a button to where to look; `text` is the fallback notifications and screen readers use. A resolved
 * alert is a new message that names the firing one (when it started), not an edit.
 */
export function slackMessage(n: AlertNotification) {
  const state = n.status === "firing" ? `${icons[n.severity]} Firing` : ":white_check_mark: Resolved";
  const title = `${state}: ${n.rule.replaceAll("_", " ")} (${n.subject})`.slice(0, 150);
  const fields = [
    { type: "mrkdwn", text: `*Severity*\n${n.severity}` },
    { type: "mrkdwn", text: `*Since*\n${n.startsAt}` },
    ...Object.entries(n.labels).map(([key, value]) => ({ type: "mrkdwn", text: `*${key}*\n${value}` })),
  ].slice(0, 10);
  const context =
    n.status === "resolved"
      ? `Resolved ${n.endsAt}: the alert that started firing ${n.startsAt} (fingerprint ${n.fingerprint}).`
      : `Tenon alert ${n.fingerprint}, notification ${n.number}.`;
  const blocks: unknown[] = [
    { type: "header", text: { type: "plain_text", text: title } },
    { type: "section", text: { type: "mrkdwn", text: n.summary.slice(0, 3000) } },
    { type: "section", fields },
    { type: "context", elements: [{ type: "mrkdwn", text: context }] },
  ];
  if (hasAbsoluteLink(n)) {
    blocks.push({
      type: "actions",
      elements: [{ type: "button", text: { type: "plain_text", text: "Open in Tenon" }, url: n.link }],
    });
  }
  return { text: `${n.status === "firing" ? "Firing" : "Resolved"}: ${n.summary}`, blocks };
}

/**
 * A Slack incoming webhook. Its URL holds the webhook's token: the token is the connection's credential, added to
 * the path as the request is signed, so the audit trail and errors show the URL with the token redacted.
 */
export function slackChannel(name: string, webhookUrl: string): AlertChannel {
  const url = new URL(webhookUrl);
  const segments = url.pathname.split("/");
  const token = segments.pop() ?? "";
  const pathWithoutToken = `${segments.join("/")}/`;
  const id = channelConnectionId(name);
  return {
    connection: {
      id,
      config: {
        baseUrl: url.origin,
        credentials: { token },
        auth: {
          type: "custom",
          sign: (request, credentials) => {
            request.url.pathname = `${pathWithoutToken}${credentials.token}`;
          },
        },
        circuit: { failureThreshold: 5, cooldown: "1m" },
        idempotencyHeader: false,
      },
    },
    async send(notification, connection) {
      await connection(id).request({ method: "POST", path: pathWithoutToken, json: slackMessage(notification) });
    },
  };
}
