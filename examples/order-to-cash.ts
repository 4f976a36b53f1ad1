import { defineIntegration, parseEventPayload } from "tenon";
import { hubspot } from "tenon/connectors/hubspot";
import { inventory } from "tenon/connectors/inventory";
import { postmark } from "tenon/connectors/postmark";
import { quickbooks } from "tenon/connectors/quickbooks";
import { type ShopifyOrder, shopifyOrderSchema } from "tenon/connectors/shopify";

/**
 * A new store order becomes a CRM contact, an invoice, a stock decrement per line and a confirmation
 * email. Each step is journaled, so a retry never repeats a finished one; the one that was interrupted
 * is made safe by each API's own strategy: the contact is an upsert by email, the invoice is looked up
 * by its number before it is created (QuickBooks has no idempotency keys), the stock adjustments carry
 * an Idempotency-Key of the order's line, and the email is looked up by a reference in its metadata before
 * sending. So a second run for the same order, a replay of its event, changes nothing that is already done.
 */
export const orderToCash = defineIntegration<ShopifyOrder>({
  id: "order-to-cash",
  trigger: { event: "orders/create", source: "store" },
  // One customer's orders are processed one at a time, in the order they arrived.
  concurrency: { key: (event) => customerKey(event.payload) },
  // Generous: the other systems' hiccups (a 5xx now and then, a minute-long outage) must not dead-letter an order.
  retries: { maxAttempts: 15, initialDelay: "500ms", maxDelay: "15s" },
  // What an operator searches by: `tenon search order:1001`, or email:… for every order of one customer.
  // Read from the payload as received (before it is validated), so each field may be missing.
  entities: (event) => ({
    order: event.payload.order_number,
    email: event.payload.email ?? event.payload.customer?.email,
    customer: event.payload.customer?.id,
  }),

  async run({ event, step, connection }) {
    const order = parseEventPayload(shopifyOrderSchema, event.payload, "Shopify order");
    const email = order.email || order.customer?.email || undefined;
    const crm = hubspot.client(connection("crm"));
    const books = quickbooks.client(connection("accounting"));
    const stock = inventory.client(connection("inventory"));
    const mail = postmark.client(connection("email"));
    const firstName = order.customer?.first_name ?? "";
    const lastName = order.customer?.last_name ?? "";

    // An order without an email (a point-of-sale sale) is still invoiced and shipped; only the CRM and the
    // confirmation need an address. A malformed email fails the run with the reason, before anything is sent.
    const contact = email
      ? await step.run("upsert-crm-contact", () =>
          crm.upsertContact({ email, firstname: firstName, lastname: lastName }),
        )
      : null;
    await step.tag("contact", contact?.id);

    const name = `${firstName} ${lastName}`.trim() || `Order ${order.name}`;
    const customer = await step.run("find-or-create-customer", () =>
      books.findOrCreateCustomer({ displayName: email ? `${name} (${email})` : name, email }),
    );

    const invoice = await step.run("create-invoice", () =>
      books.createInvoice({
        docNumber: invoiceNumber(order),
        customerId: customer.id,
        billEmail: email,
        lines: [
          ...order.line_items.map((line) => ({
            description: `${line.title} (${line.sku})`,
            amount: Number(line.price),
            quantity: line.quantity,
          })),
          // The invoice totals what the customer pays, so a payment of the order's total settles it.
          ...(Number(order.total_tax) > 0 ? [{ description: "Sales tax", amount: Number(order.total_tax) }] : []),
        ],
      }),
    );
    // Its number (S-1001) is what customers and payments quote; the payment's run declares it too.
    await step.tag("invoice", invoice.docNumber);

    // One step per line: each adjustment is journaled on its own, so a retry repeats only the one that failed.
    // Its key is the order's line, not the run's step: a second run for this order (its event replayed, or a
    // reconciliation re-sending it to create a missing invoice) finds the adjustment made and takes no more stock.
    for (const line of order.line_items) {
      const sku = line.sku;
      if (!sku) continue;
      await step.run(`decrement-${sku}`, () =>
        stock.adjustStock({
          sku,
          delta: -line.quantity,
          reason: "sale",
          reference: `order ${order.name}`,
          idempotencyKey: `order-${order.id}-line-${line.id}`,
        }),
      );
    }

    const confirmation = email
      ? await step.run("send-confirmation", () =>
          mail.sendEmail({
            from: "orders@tenon-demo.example",
            to: email,
            subject: `Your order ${order.name}`,
            textBody: `Thank you for your order ${order.name}. Invoice ${invoice.docNumber}: ${invoice.totalAmt} ${order.currency}.`,
            tag: "order-confirmation",
            metadata: { order: String(order.order_number) },
            // Looked for before sending: one confirmation per order, whichever run sends it.
            reference: `order-${order.id}-confirmation`,
          }),
        )
      : null;

    return {
      order: order.name,
      contactId: contact?.id ?? null,
      invoiceId: invoice.id,
      messageId: confirmation?.messageId ?? null,
    };
  },
});

/** The invoice number is the order number: the same order never yields two invoices, whatever retries. */
export function invoiceNumber(order: Pick<ShopifyOrder, "order_number">): string {
  return `S-${order.order_number}`;
}

function customerKey(order: ShopifyOrder): string {
  return (order.email ?? order.customer?.email ?? `customer-${order.customer?.id ?? "unknown"}`).toLowerCase();
}
