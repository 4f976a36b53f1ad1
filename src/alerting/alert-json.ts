import type { AlertRecord } from "../storage/alert-store.ts";

/** An alert as the API and `tenon alerts --json` show it (times in ISO 8601, null when not set). */
export function alertToJson(alert: AlertRecord) {
  const iso = (at: number | null) => (at === null ? null : new Date(at).toISOString());
  return {
    fingerprint: alert.fingerprint,
    status: alert.status,
    rule: alert.rule,
    subject: alert.subject,
    severity: alert.severity,
    summary: alert.summary,
    labels: alert.labels,
    count: alert.count,
    episode: alert.episode,
    firstSeenAt: iso(alert.firstSeenAt),
    lastSeenAt: iso(alert.lastSeenAt),
    resolvedAt: iso(alert.resolvedAt),
    notifications: alert.notifications,
    lastNotifiedAt: iso(alert.notifiedAt),
    acknowledgedAt: iso(alert.ackedAt),
    acknowledgedBy: alert.ackedBy,
    snoozedUntil: iso(alert.snoozedUntil),
  };
}
