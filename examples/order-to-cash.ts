import { defineIntegration, NonRetryableError } from "../src/index.ts";
import { accounting, crm, email, inventory } from "./simulated-systems.ts";

/** The payload of `order.created`, as the store sends it. */
export interface OrderCreated {
  orderId: string;
  customer: { email: string; name: string };
  lines: { sku: string; quantity: number; unitPrice: number }[];
  currency: string;
}

/**
 * A new order becomes a CRM contact, an invoice, a stock decrement and a
 * confirmation email. Each step is journaled: a retry after the invoice step
 * failed does not create the contact again, and a retry of the invoice step
 * sends the same idempotency key, so the accounting system creates one invoice.
 */
export const orderToCash = defineIntegration<OrderCreated>({
  id: "order-to-cash",
  trigger: { event: "order.created" },
  // One customer's orders are processed one at a time, in the order they arrived.
  concurrency: { key: (event) => event.payload.customer.email.toLowerCase() },
  retries: { maxAttempts: 4, initialDelay: "200ms", maxDelay: "5s" },

  async run({ event, step }) {
    const order = event.payload;

    const contact = await step.run("upsert-crm-contact", () => {
      if (!order.customer.email.includes("@")) {
        // Bad data: no retry can fix it, so the run ends as failed with this reason.
        throw new NonRetryableError(`order ${order.orderId}: customer email "${order.customer.email}" is not valid`);
      }
      return crm.upsertContact(order.customer);
    });

    const invoice = await step.run("create-invoice", ({ idempotencyKey }) =>
      accounting.createInvoice({
        idempotencyKey,
        orderId: order.orderId,
        total: totalOf(order),
        currency: order.currency,
      }),
    );

    const stock = await step.run("decrement-stock", () => inventory.decrement(order.lines));

    const confirmation = await step.run("send-confirmation", () =>
      email.send({ to: order.customer.email, template: "order-confirmation" }),
    );

    return {
      orderId: order.orderId,
      contactId: contact.contactId,
      invoiceId: invoice.invoiceId,
      backordered: stock.backordered,
      messageId: confirmation.messageId,
    };
  },
});

function totalOf(order: OrderCreated): number {
  const cents = order.lines.reduce((sum, line) => sum + Math.round(line.unitPrice * 100) * line.quantity, 0);
  return cents / 100;
}
