import { defineIntegration, NonRetryableError, parseEventPayload, RetryableError } from "tenon";
import { quickbooks } from "tenon/connectors/quickbooks";
import { type PaymentIntentEvent, paymentIntentEventSchema } from "tenon/connectors/stripe";

/**
 * A successful payment marks its invoice paid: a QuickBooks payment linked to the invoice, found by
 * the PaymentIntent's id before it is created. The payment may arrive before the order's invoice
 * exists (the order is still being processed); then the run retries until it does.
 */
export const paymentReconciled = defineIntegration<PaymentIntentEvent>({
  id: "payment-reconciled",
  trigger: { event: "payment_intent.succeeded", source: "payments" },
  retries: { maxAttempts: 12, initialDelay: "1s", maxDelay: "30s" },
  // invoice:S-1001 finds the order's run that created the invoice and the payment's run that settled it.
  entities: (event) => ({
    payment: event.payload.data?.object?.id,
    invoice: event.payload.data?.object?.metadata?.invoice_number,
  }),

  async run({ event, step, connection }) {
    const intent = parseEventPayload(paymentIntentEventSchema, event.payload, "Stripe event").data.object;
    const docNumber = intent.metadata?.invoice_number;
    if (!docNumber) {
      throw new NonRetryableError(
        `PaymentIntent ${intent.id} has no metadata.invoice_number: nothing to reconcile it with`,
      );
    }
    const books = quickbooks.client(connection("accounting"));

    const invoice = await step.run("find-invoice", async () => {
      const found = await books.findInvoiceByDocNumber({ docNumber });
      if (!found)
        throw new RetryableError(`invoice ${docNumber} does not exist yet; waiting for its order to be invoiced`);
      return found;
    });
    const payment = await step.run("record-payment", () =>
      books.recordPayment({
        invoiceId: invoice.id,
        customerId: invoice.customerId,
        amount: intent.amount / 100,
        reference: intent.id,
      }),
    );
    await step.tag("quickbooks-payment", payment.id);
    return { invoice: docNumber, paymentId: payment.id };
  },
});
