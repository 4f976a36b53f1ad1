import type { Engine, SendEventInput } from "../../engine/engine.ts";

/** What the simulated store has sent so far, as the engine answered it. */
export interface TrafficCounts {
  received: number;
  duplicatesIgnored: number;
  unmatched: number;
  /** Sends the engine refused (a bug in this generator if it ever happens). */
  rejected: number;
  lastRejection: string | undefined;
}

export interface StoreTraffic {
  readonly counts: Readonly<TrafficCounts>;
  /** Stops sending and waits for the sends in flight. */
  stop(): Promise<void>;
}

const meanGapMs = 300;
const skus = ["MUG-01", "TEE-M", "TEE-L", "CAP-02", "BAG-07"];
const customers = ["ada", "grace", "linus", "barbara", "ken", "margaret", "dennis", "radia"];

/**
 * Sends a few events a second, the way a store's webhooks would: mostly new
 * orders, now and then a redelivery of an earlier order (same event id, which
 * the engine must ignore), an event no integration handles, and an order with
 * a broken email that the integration rejects as bad data.
 */
export function startStoreTraffic(engine: Engine): StoreTraffic {
  const counts: TrafficCounts = {
    received: 0,
    duplicatesIgnored: 0,
    unmatched: 0,
    rejected: 0,
    lastRejection: undefined,
  };
  const sent: string[] = [];
  const inFlight = new Set<Promise<void>>();
  let orderNumber = 1000;
  let customerUpdates = 0;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;

  function nextEvent(): SendEventInput {
    const roll = Math.random();
    const earlier = sent[Math.floor(Math.random() * sent.length)];
    if (roll < 0.08 && earlier !== undefined) return order(earlier, { badEmail: false });
    if (roll < 0.13) {
      customerUpdates += 1;
      return { source: "store", type: "customer.updated", id: `customer-updated-${customerUpdates}`, payload: {} };
    }
    orderNumber += 1;
    const orderId = `ord-${orderNumber}`;
    sent.push(orderId);
    return order(orderId, { badEmail: roll < 0.16 });
  }

  async function send(event: SendEventInput): Promise<void> {
    counts.received += 1;
    try {
      const result = await engine.send(event);
      if (result.duplicate) counts.duplicatesIgnored += 1;
      else if (result.runIds.length === 0) counts.unmatched += 1;
    } catch (error) {
      counts.rejected += 1;
      counts.lastRejection = (error as Error).message;
    }
  }

  function schedule(): void {
    if (stopped) return;
    timer = setTimeout(
      () => {
        const sending = send(nextEvent());
        inFlight.add(sending);
        void sending.finally(() => inFlight.delete(sending));
        schedule();
      },
      meanGapMs * (0.5 + Math.random()),
    );
  }

  schedule();
  return {
    counts,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await Promise.all(inFlight);
    },
  };
}

/** The store's `order.created` webhook; a redelivery carries the same order, hence the same event id. */
function order(orderId: string, options: { badEmail: boolean }): SendEventInput {
  const n = Number(orderId.slice(4));
  const name = customers[n % customers.length] ?? "ada";
  const lines = [{ sku: skus[n % skus.length] ?? "MUG-01", quantity: 1 + (n % 3), unitPrice: 12.5 + (n % 4) * 5 }];
  return {
    source: "store",
    type: "order.created",
    id: `order-created-${orderId}`,
    payload: {
      orderId,
      customer: { email: options.badEmail ? `${name}-at-example.com` : `${name}@example.com`, name },
      lines,
      currency: "EUR",
    },
  };
}
