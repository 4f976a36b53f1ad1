import { setKept } from "./systems/record-limits.ts";
import type { WebhookMessage } from "./webhook-sender.ts";

export type WebhookDeliveryStatus = "pending" | "delivered" | "failed";

/** One message's delivery as the state shows it, under the provider's id of the message. */
export interface WebhookDeliveryState {
  id: string;
  topic: string;
  status: WebhookDeliveryStatus;
  /** Every attempt so far, redeliveries included. */
  attempts: number;
  /** Redeliveries asked for at `POST /_sandbox/<system>/webhooks/<id>/redeliver`. */
  redeliveries: number;
  createdAt: string;
  lastAttemptAt: string | null;
  /** When the next attempt is due (pending only; it waits longer while the system has no webhook target). */
  nextAttemptAt: string | null;
  lastStatus: number | null;
  lastError: string | null;
}

/** A message on its way: what the sender needs to attempt it again, beside what the state shows. */
export interface WebhookDelivery {
  readonly message: WebhookMessage;
  readonly createdAt: number;
  status: WebhookDeliveryStatus;
  attempts: number;
  /** Attempts of the automatic schedule, which decides the wait before the next retry. */
  scheduledAttempts: number;
  redeliveries: number;
  /** This attempt is a redelivery of a message that had finished: it gets no retries of its own. */
  oneOff: boolean;
  inFlight: boolean;
  dueAt: number;
  lastAttemptAt: number | null;
  lastStatus: number | null;
  lastError: string | null;
}

/** Failed messages kept for redelivery, as many as a system keeps records; the oldest go first. */
const keptFailed = 50_000;
/** Delivered messages kept for redelivery and the state; older ones are only counted. */
const keptDelivered = 1_000;
/** Delivered messages the state lists. */
const shownDelivered = 100;

/**
 * Every message a system's webhook sender knows, by status. Pending ones are all kept (each is still
 * owed to the receiver), failed ones up to `keptFailed`, delivered ones up to `keptDelivered` and
 * beyond that only counted, so a demo left running for days stays small.
 */
export class WebhookDeliveryLog {
  readonly #pending = new Map<string, WebhookDelivery>();
  readonly #failed = new Map<string, WebhookDelivery>();
  readonly #delivered = new Map<string, WebhookDelivery>();
  #deliveredCount = 0;

  get(id: string): WebhookDelivery | undefined {
    return this.#pending.get(id) ?? this.#failed.get(id) ?? this.#delivered.get(id);
  }

  pending(): IterableIterator<WebhookDelivery> {
    return this.#pending.values();
  }

  get pendingCount(): number {
    return this.#pending.size;
  }

  /** Files `delivery` under its current status (a message sent again under a known id replaces the older one). */
  file(delivery: WebhookDelivery): void {
    const id = delivery.message.id;
    this.#pending.delete(id);
    this.#failed.delete(id);
    this.#delivered.delete(id);
    if (delivery.status === "pending") this.#pending.set(id, delivery);
    if (delivery.status === "failed") setKept(this.#failed, id, delivery, undefined, keptFailed);
    if (delivery.status === "delivered") {
      this.#deliveredCount += 1;
      setKept(this.#delivered, id, delivery, undefined, keptDelivered);
    }
  }

  /** Whether `delivery` is still the one filed under its id (not replaced by a newer message with that id). */
  holds(delivery: WebhookDelivery): boolean {
    return this.get(delivery.message.id) === delivery;
  }

  state() {
    return {
      /** Messages delivered since the sandbox started (redeliveries included). */
      delivered: this.#deliveredCount,
      pending: this.#pending.size,
      failed: this.#failed.size,
      deliveries: {
        pending: [...this.#pending.values()].map(view),
        failed: [...this.#failed.values()].map(view),
        /** The most recently delivered, oldest first. */
        delivered: [...this.#delivered.values()].slice(-shownDelivered).map(view),
      },
    };
  }
}

export function view(delivery: WebhookDelivery): WebhookDeliveryState {
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  return {
    id: delivery.message.id,
    topic: delivery.message.topic,
    status: delivery.status,
    attempts: delivery.attempts,
    redeliveries: delivery.redeliveries,
    createdAt: new Date(delivery.createdAt).toISOString(),
    lastAttemptAt: iso(delivery.lastAttemptAt),
    nextAttemptAt: delivery.status === "pending" && !delivery.inFlight ? iso(delivery.dueAt) : null,
    lastStatus: delivery.lastStatus,
    lastError: delivery.lastError,
  };
}
