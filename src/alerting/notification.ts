import type { AlertRecord } from "../storage/alert-store.ts";

/**
 * One notification of an alert, as every channel receives it: the payload of the event that starts the
 * channel's delivery run. `id` is the same on a re-send after a crash (fingerprint, episode, number).
 */
export interface AlertNotification {
  id: string;
  fingerprint: string;
  /** Which notification of this episode: 1 is the first firing one; the resolved one is the last. */
  number: number;
  episode: number;
  status: "firing" | "resolved";
  rule: string;
  subject: string;
  severity: AlertRecord["severity"];
  summary: string;
  labels: Record<string, string>;
  count: number;
  /** ISO 8601: when this episode started firing, and when it resolved (null while firing). */
  startsAt: string;
  endsAt: string | null;
  /** Where to look: the run list, the connection, the events (absolute when a public URL is known). */
  link: string;
}

export function toNotification(alert: AlertRecord, number: number, link: string): AlertNotification {
  return {
    id: `${alert.fingerprint}.${alert.episode}.${number}`,
    fingerprint: alert.fingerprint,
    number,
    episode: alert.episode,
    status: alert.status,
    rule: alert.rule,
    subject: alert.subject,
    severity: alert.severity,
    summary: alert.summary,
    labels: alert.labels,
    count: alert.count,
    startsAt: new Date(alert.firstSeenAt).toISOString(),
    endsAt: alert.resolvedAt === null ? null : new Date(alert.resolvedAt).toISOString(),
    link,
  };
}

/** The first notification of the notification's episode: what a resolved message refers back to (threads). */
export function firstOfEpisode(notification: AlertNotification): string {
  return `${notification.fingerprint}.${notification.episode}.1`;
}

/** Whether the notification's link can be followed from outside (absolute: a public URL is configured). */
export function hasAbsoluteLink(notification: AlertNotification): boolean {
  return /^https?:\/\//.test(notification.link);
}
