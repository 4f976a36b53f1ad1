import type { NotificationDelivery } from "../storage/alert-store.ts";
import { deliveryChannel } from "./alerting.ts";
import type { AlertNotification } from "./notification.ts";

/**
 * Where a notification stands on one channel, from its delivery run: `delivered` (the channel took it),
 * `sending` (not tried yet, or being tried the first time), `retrying` (an attempt failed; another follows),
 * `failed` (retries exhausted: the run is dead, and can be replayed from the dead letters).
 */
export type DeliveryState = "delivered" | "sending" | "retrying" | "failed";

const iso = (epochMs: number | null) => (epochMs === null ? null : new Date(epochMs).toISOString());

/** A delivery as `GET /api/alerts/deliveries` answers it: the notification it carries and how its run went. */
export function deliveryToJson(delivery: NotificationDelivery) {
  const notification = JSON.parse(delivery.payload) as AlertNotification;
  const { run } = delivery;
  return {
    channel: deliveryChannel(delivery.type) ?? delivery.type,
    notification: {
      id: notification.id,
      fingerprint: notification.fingerprint,
      episode: notification.episode,
      number: notification.number,
      status: notification.status,
      rule: notification.rule,
      subject: notification.subject,
      severity: notification.severity,
      summary: notification.summary,
    },
    state: stateOf(run),
    eventId: delivery.eventId,
    runId: run?.id ?? null,
    queuedAt: iso(delivery.receivedAt),
    failedAttempts: run?.failedAttempts ?? 0,
    lastError: run
      ? withoutStack(run.lastError)
      : "no delivery run took it: the channel is no longer in the configuration",
    deliveredAt: run?.status === "succeeded" ? iso(run.finishedAt) : null,
    nextAttemptAt: run && (run.status === "retrying" || run.status === "waiting") ? iso(run.availableAt) : null,
  };
}

function stateOf(run: NotificationDelivery["run"]): DeliveryState {
  if (!run) return "failed";
  if (run.status === "succeeded") return "delivered";
  if (run.status === "dead" || run.status === "failed") return "failed";
  // A run keeps its last error until an attempt succeeds: with one, an attempt failed and another follows.
  return run.lastError === null ? "sending" : "retrying";
}

/** The error as the receiver's answer told it: the run keeps the stack too, which its own page shows. */
function withoutStack(error: string | null): string | null {
  return error === null ? null : (error.split(/\n\s+at /)[0] ?? error);
}
