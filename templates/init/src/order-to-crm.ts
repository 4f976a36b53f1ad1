import { defineIntegration, parseEventPayload } from "tenon";
import { hubspot } from "tenon/connectors/hubspot";
import { type ShopifyOrder, shopifyOrderSchema } from "tenon/connectors/shopify";

/**
 * A new store order becomes a CRM contact with a note about the order. Each `step.run` is journaled: when
 * a run is retried (the CRM answered 503, the process restarted), finished steps return their recorded
 * result instead of running again.
 */
export const orderToCrm = defineIntegration<ShopifyOrder>({
  id: "order-to-crm",
  // A verified Shopify `orders/create` webhook at POST /hooks/store (see tenon.config.ts).
  trigger: { event: "orders/create", source: "store" },
  retries: { maxAttempts: 10, initialDelay: "500ms", maxDelay: "30s" },

  async run({ event, step, connection }) {
    // Checked here, so a malformed payload fails the run with the reason instead of being retried.
    const order = parseEventPayload(shopifyOrderSchema, event.payload, "Shopify order");
    const email = order.email || order.customer?.email;
    if (!email) return { skipped: `order ${order.name} has no email` };

    const crm = hubspot.client(connection("crm"));
    // An upsert by email: repeating it after a lost answer changes nothing.
    const contact = await step.run("upsert-contact", () =>
      crm.upsertContact({
        email,
        firstname: order.customer?.first_name ?? "",
        lastname: order.customer?.last_name ?? "",
      }),
    );
    // Notes have no natural key: the step's idempotency key (the same on every attempt of this step in this
    // run) is stored with the note, and a retry looks for it before creating a second one.
    const note = await step.run("add-order-note", ({ idempotencyKey }) =>
      crm.addNote({
        contactId: contact.id,
        body: `Order ${order.name}: ${order.total_price} ${order.currency}`,
        reference: idempotencyKey,
      }),
    );
    return { contactId: contact.id, noteId: note.id };
  },
});
