import { view, type WebhookDelivery, WebhookDeliveryLog, type WebhookDeliveryState } from "./webhook-delivery-log.ts";
import { describeDelay, standardWebhooksRetries, type WebhookRetrySchedule } from "./webhook-retry-schedules.ts";

export type { WebhookDeliveryState } from "./webhook-delivery-log.ts";

/** One webhook to deliver: the body is fixed, the headers are signed again on every attempt (fresh timestamps). */
export interface WebhookMessage {
  /** The provider's id of this message, the same on every retry and redelivery, so the receiver can deduplicate. */
  id: string;
  topic: string;
  body: string;
  headers: (attempt: number, now: number) => Record<string, string>;
}

export interface WebhookSenderOptions {
  /** Default target; `PUT /_sandbox/<system>/webhooks` changes it. */
  url?: string;
  /** Deliveries in flight at once. Default 16. */
  concurrency?: number;
  /** When failed attempts are tried again. Default the Standard Webhooks (Svix) schedule; each system sets its provider's. */
  retries?: WebhookRetrySchedule;
  /** How many times faster than the provider the schedule runs: 3600 turns its hours into seconds. Default 1. */
  timeScale?: number;
  now?: () => number;
}

/** Why a redelivery was refused, for the control route's answer. */
export type RedeliveryRefusal = "unknown" | "in_flight";

const attemptTimeoutMs = 10_000;
/** The longest wait `setTimeout` takes (about 24.8 days); a longer one is waited for in steps. */
const longestTimerMs = 2 ** 31 - 1;

/**
 * Delivers a system's webhooks as its provider does: POST to the subscribed URL; a 2xx within the
 * timeout counts as delivered; anything else is retried on the provider's schedule (optionally
 * compressed by `timeScale`), then the message is marked failed and waits for a redelivery. Without a
 * target, messages wait for one.
 */
export class WebhookSender {
  #url: string | undefined;
  #retries: WebhookRetrySchedule;
  readonly #timeScale: number;
  readonly #concurrency: number;
  readonly #now: () => number;
  readonly #log = new WebhookDeliveryLog();
  #inFlight = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  readonly #active = new Set<Promise<void>>();

  constructor(options: WebhookSenderOptions = {}) {
    const timeScale = options.timeScale ?? 1;
    if (!(Number.isFinite(timeScale) && timeScale > 0)) {
      throw new RangeError(`the webhook time scale must be a number > 0 (1 is real time), not ${options.timeScale}`);
    }
    this.#url = options.url;
    this.#retries = options.retries ?? standardWebhooksRetries;
    this.#timeScale = timeScale;
    this.#concurrency = options.concurrency ?? 16;
    this.#now = options.now ?? Date.now;
  }

  get url(): string | undefined {
    return this.#url;
  }

  set url(url: string | undefined) {
    this.#url = url;
    this.#pump();
  }

  /** The schedule retries follow; a system sets its provider's when the sandbox starts it. */
  get retries(): WebhookRetrySchedule {
    return this.#retries;
  }

  set retries(schedule: WebhookRetrySchedule) {
    this.#retries = schedule;
  }

  /** Queues a message; returns at once. */
  send(message: WebhookMessage): void {
    if (this.#closed) return;
    const now = this.#now();
    this.#log.file({
      message,
      createdAt: now,
      status: "pending",
      attempts: 0,
      scheduledAttempts: 0,
      redeliveries: 0,
      oneOff: false,
      inFlight: false,
      dueAt: now,
      lastAttemptAt: null,
      lastStatus: null,
      lastError: null,
    });
    this.#pump();
  }

  /**
   * Sends a known message again now, under the same id and signed afresh, as the providers' dashboards
   * do. A pending message's next attempt moves to now; a delivered or failed one gets one attempt.
   */
  redeliver(id: string): WebhookDeliveryState | RedeliveryRefusal {
    const delivery = this.#log.get(id);
    if (!delivery) return "unknown";
    if (delivery.inFlight) return "in_flight";
    delivery.redeliveries += 1;
    delivery.dueAt = this.#now();
    if (delivery.status !== "pending") {
      delivery.status = "pending";
      delivery.oneOff = true;
      this.#log.file(delivery);
    }
    this.#pump();
    return view(delivery);
  }

  /** One message's delivery, if the sender still keeps it. */
  delivery(id: string): WebhookDeliveryState | undefined {
    const delivery = this.#log.get(id);
    return delivery && view(delivery);
  }

  /** The target, the schedule, counts, and every pending and failed message (the most recent delivered ones). */
  state() {
    return {
      url: this.#url ?? null,
      retries: {
        schedule: this.#retries.description,
        delays: this.#retries.retryDelaysMs.map(describeDelay),
        timeScale: this.#timeScale,
      },
      ...this.#log.state(),
    };
  }

  /** Resolves when nothing is pending (or after `timeoutMs`). */
  async drain(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.#log.pendingCount > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    await Promise.allSettled([...this.#active]);
  }

  #pump(): void {
    if (this.#closed || this.#url === undefined) return;
    const now = this.#now();
    let nextDue = Number.POSITIVE_INFINITY;
    for (const delivery of this.#log.pending()) {
      if (delivery.inFlight) continue;
      if (delivery.dueAt > now || this.#inFlight >= this.#concurrency) {
        nextDue = Math.min(nextDue, delivery.dueAt);
        continue;
      }
      this.#start(delivery);
    }
    clearTimeout(this.#timer);
    if (nextDue === Number.POSITIVE_INFINITY || this.#inFlight >= this.#concurrency) return;
    this.#timer = setTimeout(() => this.#pump(), Math.min(Math.max(nextDue - now, 1), longestTimerMs));
    this.#timer.unref();
  }

  #start(delivery: WebhookDelivery): void {
    delivery.inFlight = true;
    this.#inFlight += 1;
    const attempt = this.#attempt(delivery).finally(() => {
      delivery.inFlight = false;
      this.#inFlight -= 1;
      this.#active.delete(attempt);
      this.#pump();
    });
    this.#active.add(attempt);
  }

  async #attempt(delivery: WebhookDelivery): Promise<void> {
    const { message } = delivery;
    delivery.attempts += 1;
    if (!delivery.oneOff) delivery.scheduledAttempts += 1;
    delivery.lastAttemptAt = this.#now();
    try {
      const response = await fetch(this.#url as string, {
        method: "POST",
        headers: { "content-type": "application/json", ...message.headers(delivery.attempts, this.#now()) },
        body: message.body,
        signal: AbortSignal.timeout(attemptTimeoutMs),
      });
      await response.arrayBuffer();
      delivery.lastStatus = response.status;
      delivery.lastError = null;
      if (response.ok) return this.#finish(delivery, "delivered");
    } catch (error) {
      delivery.lastStatus = null;
      delivery.lastError = (error as Error).message;
    }
    const wait = this.#retries.retryDelaysMs[delivery.scheduledAttempts - 1];
    if (delivery.oneOff || wait === undefined || this.#closed) return this.#finish(delivery, "failed");
    delivery.dueAt = this.#now() + wait / this.#timeScale;
  }

  #finish(delivery: WebhookDelivery, status: "delivered" | "failed"): void {
    delivery.status = status;
    delivery.oneOff = false;
    // A message sent again under the same id while this attempt ran has replaced it: leave that one be.
    if (this.#log.holds(delivery)) this.#log.file(delivery);
  }
}
