import type { SubscriberHealth } from "../storage/operational-webhook-store.ts";
import type { Subscriber } from "./operational-webhooks-config.ts";

/** A subscriber's state in a word: disabled, failing (deliveries given up since the last success), or active. */
export type SubscriberState = "active" | "failing" | "disabled";

export function stateOf(health: SubscriberHealth | undefined): SubscriberState {
  if (health?.disabledAt != null) return "disabled";
  return health?.failingSince != null ? "failing" : "active";
}

/** A subscriber as the API and `tenon webhooks --json` show it (times in ISO 8601, null when not set). */
export function subscriberToJson(subscriber: Subscriber, health: SubscriberHealth | undefined) {
  const iso = (at: number | null | undefined) => (at == null ? null : new Date(at).toISOString());
  return {
    name: subscriber.name,
    url: subscriber.shownUrl,
    events: subscriber.events,
    disableAfterMs: subscriber.disableAfterMs,
    state: stateOf(health),
    lastSuccessAt: iso(health?.lastSuccessAt),
    failingSince: iso(health?.failingSince),
    consecutiveFailures: health?.consecutiveFailures ?? 0,
    disabledAt: iso(health?.disabledAt),
    disabledReason: health?.disabledReason ?? null,
    enabledAt: iso(health?.enabledAt),
    skipped: health?.skipped ?? 0,
  };
}

/** Every configured subscriber with its stored health, in the config's order. */
export async function listSubscribers(
  subscribers: readonly Subscriber[],
  store: { listSubscriberHealth(): Promise<SubscriberHealth[]> },
) {
  const health = new Map((await store.listSubscriberHealth()).map((h) => [h.name, h]));
  return subscribers.map((subscriber) => subscriberToJson(subscriber, health.get(subscriber.name)));
}
