import { randomUUID } from "node:crypto";

/** One webhook to deliver: the body is fixed, the headers are signed again on every attempt (fresh timestamps). */
export interface WebhookMessage {
  /** The provider's id of this delivery (kept across retries, so the receiver can deduplicate). */
  id: string;
  topic: string;
  body: string;
  headers: (attempt: number, now: number) => Record<string, string>;
}

export interface WebhookDeliveryState {
  id: string;
  topic: string;
  attempts: number;
  status: "pending" | "delivered" | "failed";
  lastStatus: number | null;
  lastError: string | null;
}

export interface WebhookSenderOptions {
  /** Default target; `PUT /_sandbox/<system>/webhooks` changes it. */
  url?: string;
  /** Deliveries in flight at once. Default 16. */
  concurrency?: number;
  /** Attempts before a delivery is given up. Default 12 (about a minute of backoff, capped at 10 s). */
  maxAttempts?: number;
  now?: () => number;
}

const attemptTimeoutMs = 10_000;
const keptDeliveries = 5_000;

/**
 * Delivers a system's webhooks like the real providers do: POST to the subscribed URL, a 2xx within
 * the timeout counts as delivered, anything else is retried with backoff (Shopify and Stripe retry for
 * days; the sandbox compresses that to about a minute). Without a target, messages wait for one.
 */
export class WebhookSender {
  #url: string | undefined;
  readonly #concurrency: number;
  readonly #maxAttempts: number;
  readonly #now: () => number;
  readonly #queue: { message: WebhookMessage; state: WebhookDeliveryState; notBefore: number }[] = [];
  readonly #deliveries = new Map<string, WebhookDeliveryState>();
  #inFlight = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  readonly #active = new Set<Promise<void>>();

  constructor(options: WebhookSenderOptions = {}) {
    this.#url = options.url;
    this.#concurrency = options.concurrency ?? 16;
    this.#maxAttempts = options.maxAttempts ?? 12;
    this.#now = options.now ?? Date.now;
  }

  get url(): string | undefined {
    return this.#url;
  }

  set url(url: string | undefined) {
    this.#url = url;
    this.#pump();
  }

  /** Queues a delivery; returns at once. */
  send(message: WebhookMessage): void {
    if (this.#closed) return;
    const state: WebhookDeliveryState = {
      id: message.id,
      topic: message.topic,
      attempts: 0,
      status: "pending",
      lastStatus: null,
      lastError: null,
    };
    this.#remember(state);
    this.#queue.push({ message, state, notBefore: 0 });
    this.#pump();
  }

  /** Delivered, pending and failed counts, and the most recent deliveries. */
  state(): { url: string | null; delivered: number; pending: number; failed: number; recent: WebhookDeliveryState[] } {
    const all = [...this.#deliveries.values()];
    return {
      url: this.#url ?? null,
      delivered: all.filter((delivery) => delivery.status === "delivered").length,
      pending: all.filter((delivery) => delivery.status === "pending").length,
      failed: all.filter((delivery) => delivery.status === "failed").length,
      recent: all.slice(-20),
    };
  }

  /** Resolves when nothing is pending (or after `timeoutMs`). */
  async drain(timeoutMs = 60_000): Promise<void> {
    const deadline = this.#now() + timeoutMs;
    while (this.#queue.length > 0 || this.#inFlight > 0) {
      if (this.#now() > deadline) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    await Promise.allSettled([...this.#active]);
  }

  #remember(state: WebhookDeliveryState): void {
    this.#deliveries.set(state.id, state);
    if (this.#deliveries.size <= keptDeliveries) return;
    for (const [id, kept] of this.#deliveries) {
      if (this.#deliveries.size <= keptDeliveries) break;
      if (kept.status !== "pending") this.#deliveries.delete(id);
    }
  }

  #pump(): void {
    if (this.#closed || this.#url === undefined) return;
    const now = this.#now();
    while (this.#inFlight < this.#concurrency) {
      const index = this.#queue.findIndex((item) => item.notBefore <= now);
      if (index < 0) break;
      const [item] = this.#queue.splice(index, 1);
      if (!item) break;
      this.#inFlight += 1;
      const attempt = this.#attempt(item).finally(() => {
        this.#inFlight -= 1;
        this.#active.delete(attempt);
        this.#pump();
      });
      this.#active.add(attempt);
    }
    this.#scheduleNext(now);
  }

  #scheduleNext(now: number): void {
    clearTimeout(this.#timer);
    if (this.#queue.length === 0) return;
    const next = Math.min(...this.#queue.map((item) => item.notBefore));
    this.#timer = setTimeout(() => this.#pump(), Math.max(next - now, 10));
    this.#timer.unref();
  }

  async #attempt(item: { message: WebhookMessage; state: WebhookDeliveryState; notBefore: number }): Promise<void> {
    const { message, state } = item;
    state.attempts += 1;
    try {
      const response = await fetch(this.#url as string, {
        method: "POST",
        headers: { "content-type": "application/json", ...message.headers(state.attempts, this.#now()) },
        body: message.body,
        signal: AbortSignal.timeout(attemptTimeoutMs),
      });
      await response.arrayBuffer();
      state.lastStatus = response.status;
      state.lastError = null;
      if (response.ok) {
        state.status = "delivered";
        return;
      }
    } catch (error) {
      state.lastStatus = null;
      state.lastError = (error as Error).message;
    }
    if (state.attempts >= this.#maxAttempts || this.#closed) {
      state.status = "failed";
      return;
    }
    item.notBefore = this.#now() + Math.min(250 * 2 ** (state.attempts - 1), 10_000);
    this.#queue.push(item);
  }
}

/** A delivery id in the provider's style when it has none of its own. */
export function newDeliveryId(): string {
  return randomUUID();
}
