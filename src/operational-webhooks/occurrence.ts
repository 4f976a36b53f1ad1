import { createHash } from "node:crypto";
import type { AlertNotification } from "../alerting/notification.ts";
import { redactedMarker, redactSecrets, truncateBody } from "../connections/audit/redact.ts";
import type { ConnectionIncident } from "../storage/connection-store.ts";
import type { DriftIncident } from "../storage/drift-store.ts";
import type { EndedRun } from "../storage/operational-webhook-store.ts";
import type { OperationalEventType } from "./operational-webhooks-config.ts";

/**
 * Something that happened in Tenon that subscribers may be told about. Its `id` is derived from what it is
 * about (the run and when it ended, the incident, the alert notification), so the same occurrence read twice,
 * after a crash, has the same id, and so have its deliveries: the second is a duplicate.
 */
export interface Occurrence {
  id: string;
  type: OperationalEventType;
  /** When it happened. */
  at: number;
  data: Record<string, unknown>;
  /** The subscriber it is about, if any (an alert about its own deliveries): not told to that subscriber. */
  aboutSubscriber?: string;
}

/** The body of a delivery, Standard Webhooks' recommended envelope. */
export interface WebhookEnvelope {
  type: OperationalEventType;
  /** ISO 8601: when it happened. */
  timestamp: string;
  data: Record<string, unknown>;
}

export function envelopeOf(occurrence: Occurrence): WebhookEnvelope {
  return { type: occurrence.type, timestamp: new Date(occurrence.at).toISOString(), data: occurrence.data };
}

/**
 * The `webhook-id` of an occurrence's delivery to a subscriber: stable for the pair, so a receiver deduplicates
 * redeliveries on it, and different per subscriber. Shaped like Svix's message ids.
 */
export function webhookIdOf(occurrenceId: string, subscriber: string): string {
  const digest = createHash("sha256").update(`${occurrenceId}\u0000${subscriber}`).digest("base64url");
  return `msg_${digest.slice(0, 24)}`;
}

/** At most this much of an error goes out: enough to act on, not a whole stack of stacks. */
const errorLimitBytes = 2048;
/** What goes out of Tenon in a run's error or an incident's detail: known secrets hidden, then truncated. */
export function outgoingText(text: string, secretValues: readonly string[]): string {
  const shown = redactSecrets(text, [...secretValues])
    // Credentials written out in an error by code that did not know better: signing secrets, auth headers.
    .replace(/\bwhsec_[A-Za-z0-9+/=]+/g, redactedMarker)
    .replace(/\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}/gi, (_match, scheme: string) => `${scheme} ${redactedMarker}`);
  return truncateBody(shown, errorLimitBytes);
}

/** How occurrences point back into Tenon: absolute under the public URL when there is one. */
export type LinkTo = (path: string) => string;

export function runOccurrence(run: EndedRun, linkTo: LinkTo, secretValues: readonly string[]): Occurrence {
  return {
    id: `run.${run.status}.${run.id}.${run.finishedAt}`,
    type: run.status === "dead" ? "run.dead" : "run.failed",
    at: run.finishedAt,
    data: {
      run: {
        id: run.id,
        integration: run.integrationId,
        status: run.status,
        eventId: run.eventId,
        createdAt: new Date(run.createdAt).toISOString(),
        finishedAt: new Date(run.finishedAt).toISOString(),
        error: run.lastError === null ? null : outgoingText(run.lastError, secretValues),
      },
      link: linkTo(`/api/runs/${encodeURIComponent(run.id)}`),
    },
  };
}

export function connectionOccurrence(
  incident: ConnectionIncident,
  linkTo: LinkTo,
  secretValues: readonly string[],
): Occurrence {
  return {
    id: `connection.${incident.id}`,
    type: incident.kind === "auth_restored" ? "connection.restored" : "connection.auth_failed",
    at: incident.at,
    data: {
      connection: { id: incident.connectionId },
      incident: {
        id: incident.id,
        kind: incident.kind,
        detail: outgoingText(incident.detail, secretValues),
        at: new Date(incident.at).toISOString(),
      },
      link: linkTo(`/api/health#connection-${encodeURIComponent(incident.connectionId)}`),
    },
  };
}

export function driftOccurrence(incident: DriftIncident, linkTo: LinkTo): Occurrence {
  return {
    id: `drift.${incident.id}`,
    type: "drift.detected",
    at: incident.detectedAt,
    data: {
      drift: {
        id: incident.id,
        kind: incident.kind,
        subject: incident.subject,
        method: incident.method,
        route: incident.routeTemplate,
        status: incident.status,
        eventType: incident.eventType,
        field: incident.fieldPath,
        change: incident.change,
        breaking: incident.breaking,
        // Type-only (`string (12 chars)`), never a value: see drift-store.ts.
        example: incident.example,
        detectedAt: new Date(incident.detectedAt).toISOString(),
      },
      link: linkTo(incident.breaking ? "/api/drift?open=true&breaking=true" : "/api/drift?open=true"),
    },
  };
}

/**
 * An alert notification as an occurrence: its first firing notification and its resolution. Re-notifications
 * of a firing alert are reminders for people, not news: null.
 */
export function alertOccurrence(notification: AlertNotification): Occurrence | null {
  if (notification.status === "firing" && notification.number !== 1) return null;
  // An alert about a subscriber (disabled) or its deliveries (`integration:tenon-webhooks.<name>`) is not sent to it.
  const about = /^(?:webhook:|integration:tenon-webhooks\.)([a-z0-9_-]+)/.exec(notification.subject)?.[1];
  return {
    id: `alert.${notification.id}`,
    type: notification.status === "firing" ? "alert.firing" : "alert.resolved",
    at: Date.parse(notification.endsAt ?? notification.startsAt),
    data: { alert: notification, link: notification.link },
    ...(about ? { aboutSubscriber: about } : {}),
  };
}
