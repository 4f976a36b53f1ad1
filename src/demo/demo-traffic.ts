import type { Sandbox } from "../sandbox/create-sandbox.ts";
import type { createPayments } from "../sandbox/systems/payments.ts";
import type { createScheduling } from "../sandbox/systems/scheduling.ts";
import type { createStore } from "../sandbox/systems/store.ts";
import { deleteAnInvoiceByHand, placeOrderLosingItsWebhook } from "./out-of-band.ts";

export interface TrafficCounts {
  orders: number;
  payments: number;
  appointments: number;
}

export interface DemoTraffic {
  readonly counts: Readonly<TrafficCounts>;
  /** The fault in force and the next one, for the summary. */
  faultNote(): string;
  stop(): Promise<void>;
}

type Store = ReturnType<typeof createStore>;
type Payments = ReturnType<typeof createPayments>;
type Scheduling = ReturnType<typeof createScheduling>;

interface ScheduledFault {
  atS: number;
  describe: string;
  apply(): Promise<void> | void;
}

const cycleS = 170;
/**
 * Only the invoice of an order at least this old is deleted: older than the example reconciliation's settling
 * time (2 minutes; younger orders may still be on their way to an invoice), so its next run judges it.
 */
const settledOrderMs = 150_000;
/** Orders remembered for picking an invoice to delete: about a quarter of an hour of them. */
const rememberedOrders = 1_000;

/**
 * The outside world of the demo: customers order in the store (about one every two seconds) and half of them
 * pay a few seconds later; an appointment completes every few seconds. Every system fails 5% of its
 * requests, and on a loop of a few minutes: a burst of 429s, a 20-second CRM outage, and the
 * accounting token revoked, then restored a minute later by authorising again through Tenon's OAuth
 * route, the way a person would. Now and then, out of band, the store loses an order's webhook and a person
 * deletes an invoice by hand in accounting: the reconciliation finds both invoices missing and has them made again.
 */
export function startDemoTraffic(sandbox: Sandbox, tenonUrl: string): DemoTraffic {
  const store = sandbox.system<Store>("store");
  const payments = sandbox.system<Payments>("payments");
  const scheduling = sandbox.system<Scheduling>("scheduling");
  const counts: TrafficCounts = { orders: 0, payments: 0, appointments: 0 };
  const timers = new Set<NodeJS.Timeout>();
  let stopped = false;
  const calm = "5% of requests fail";
  let current = calm;
  const startedAt = Date.now();
  const recentOrders: { number: number; at: number }[] = [];
  const remember = (order: { order_number: number }) => {
    recentOrders.push({ number: order.order_number, at: Date.now() });
    if (recentOrders.length > rememberedOrders) recentOrders.shift();
  };

  const later = (ms: number, fn: () => void | Promise<void>) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (stopped) return;
      // A failure here (the re-authorisation, a rejected order) must show, and must not stop the traffic.
      Promise.resolve()
        .then(fn)
        .catch((error: unknown) => {
          current = `demo traffic error: ${(error as Error).message}`;
        });
    }, ms);
    timers.add(timer);
  };
  for (const system of ["store", "payments", "crm", "accounting", "inventory", "email", "sms"]) {
    sandbox.setFaults(system, { errorRate: 0.05 });
  }

  // Each loop schedules its next turn first, so one failed order does not end the traffic. An order costs
  // accounting about four calls (customer and invoice, each looked up first); with the payments and appointments
  // that is under half of QuickBooks' 500 a minute, so the backlog of the minute its token is revoked clears
  // within a minute or two, before the reconciliation would take a late invoice for a missing one.
  const placeOrder = () => {
    later(1_000 + Math.random() * 2_000, placeOrder);
    const order = store.placeOrder();
    counts.orders += 1;
    remember(order);
    if (Math.random() < 0.5) {
      later(3_000 + Math.random() * 5_000, () => {
        payments.customerPays({
          amount: Math.round(Number(order.total_price) * 100),
          currency: order.currency.toLowerCase(),
          // The invoice the order-to-cash example creates for this order (examples/order-to-cash.ts).
          metadata: { invoice_number: `S-${order.order_number}`, order: order.name },
        });
        counts.payments += 1;
      });
    }
  };
  const completeAppointment = () => {
    later(2_000 + Math.random() * 4_000, completeAppointment);
    scheduling.completeAppointment();
    counts.appointments += 1;
  };

  const faults: ScheduledFault[] = [
    {
      atS: 10,
      describe: "the store loses an order's webhook",
      apply() {
        const order = placeOrderLosingItsWebhook(sandbox);
        counts.orders += 1;
        remember(order);
        current = `the store lost the webhook of order ${order.name}: no invoice until the reconciliation finds it missing`;
        later(20_000, () => {
          current = calm;
        });
      },
    },
    {
      atS: 20,
      describe: "a burst of 429s from the store and the CRM (10 s)",
      apply() {
        for (const system of ["store", "crm"]) sandbox.setFaults(system, { rateLimitRate: 0.5, retryAfterSeconds: 2 });
        later(10_000, () => {
          for (const system of ["store", "crm"]) sandbox.setFaults(system, { rateLimitRate: null });
          current = calm;
        });
      },
    },
    {
      atS: 50,
      describe: "a CRM outage (20 s)",
      apply() {
        sandbox.setFaults("crm", { outageUntil: Date.now() + 20_000 });
        later(20_000, () => {
          current = calm;
        });
      },
    },
    {
      atS: 90,
      describe: "the accounting token revoked (restored a minute later)",
      apply() {
        sandbox.setFaults("accounting", { revokeCredentials: true });
        later(60_000, async () => {
          current = "accounting re-authorised through Tenon's OAuth route";
          await authoriseAgain(tenonUrl, "accounting");
        });
      },
    },
    {
      atS: 160,
      describe: "an invoice deleted by hand in accounting",
      apply() {
        const settled = Date.now() - settledOrderMs;
        const deleted = deleteAnInvoiceByHand(
          sandbox,
          recentOrders.filter((order) => order.at <= settled).map((order) => order.number),
        );
        current = deleted
          ? `invoice ${deleted} deleted by hand in accounting: the reconciliation will find it missing`
          : "no invoice old enough to delete yet";
        later(20_000, () => {
          current = calm;
        });
      },
    },
  ];
  const scheduleCycle = (cycleStart: number) => {
    for (const fault of faults) {
      later(cycleStart + fault.atS * 1000 - (Date.now() - startedAt), async () => {
        current = fault.describe;
        await fault.apply();
      });
    }
    later(cycleStart + cycleS * 1000 - (Date.now() - startedAt), () => scheduleCycle(cycleStart + cycleS * 1000));
  };

  placeOrder();
  later(1_000, completeAppointment);
  scheduleCycle(0);

  return {
    counts,
    faultNote() {
      const inCycleS = ((Date.now() - startedAt) / 1000) % cycleS;
      const next = faults.find((fault) => fault.atS > inCycleS) ?? faults[0];
      const inS = next ? Math.round((next.atS - inCycleS + cycleS) % cycleS) : 0;
      return `${current}; next: ${next?.describe ?? "none"} in ${inS} s`;
    },
    async stop() {
      stopped = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
    },
  };
}

/**
 * Follows Tenon's OAuth start route through the provider's consent (the sandbox grants at once) and
 * back to Tenon's callback, which stores the new tokens and resumes the paused runs.
 */
async function authoriseAgain(tenonUrl: string, connection: string): Promise<void> {
  const response = await fetch(`${tenonUrl}/oauth/${connection}/start`, { redirect: "follow" });
  await response.arrayBuffer();
  if (!response.ok) throw new Error(`re-authorising ${connection} answered ${response.status}`);
}
