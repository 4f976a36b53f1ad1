import { defineIntegration, parseEventPayload } from "tenon";
import { hubspot } from "tenon/connectors/hubspot";
import { quickbooks } from "tenon/connectors/quickbooks";
import { type AppointmentCompletedEvent, appointmentCompletedEventSchema } from "tenon/connectors/scheduling";
import { twilio } from "tenon/connectors/twilio";

/** The number the follow-up texts come from (the sandbox accepts any E.164 number). */
const smsFrom = process.env.SMS_FROM ?? "+15005550006";

/**
 * A completed appointment is written on the customer's CRM timeline, invoiced, and followed up by
 * SMS. The note and the invoice are found by the appointment's id before they are created, and the
 * text by its recipient and wording, so a retry after a lost answer repeats none of them.
 */
export const appointmentCompleted = defineIntegration<AppointmentCompletedEvent>({
  id: "appointment-completed",
  trigger: { event: "appointment.completed", source: "scheduling" },
  concurrency: {
    key: (event) => String((event.payload as AppointmentCompletedEvent).data.customer.email).toLowerCase(),
  },
  retries: { maxAttempts: 12, initialDelay: "500ms", maxDelay: "15s" },
  entities: (event) => ({
    appointment: event.payload.data?.id,
    email: event.payload.data?.customer?.email,
  }),

  async run({ event, step, connection }) {
    const { data: appointment } = parseEventPayload(
      appointmentCompletedEventSchema,
      event.payload,
      "appointment event",
    );
    const crm = hubspot.client(connection("crm"));
    const books = quickbooks.client(connection("accounting"));
    const sms = twilio.client(connection("sms"));
    const { customer } = appointment;
    const [firstname = "", ...rest] = customer.name.split(" ");

    const contact = await step.run("upsert-crm-contact", () =>
      crm.upsertContact({ email: customer.email, firstname, lastname: rest.join(" "), phone: customer.phone }),
    );
    await step.tag("contact", contact.id);
    await step.run("add-timeline-note", () =>
      crm.addNote({
        contactId: contact.id,
        body: `${appointment.service} completed on ${appointment.completed_at ?? appointment.ends_at}.`,
        reference: appointment.id,
      }),
    );
    const account = await step.run("find-or-create-customer", () =>
      books.findOrCreateCustomer({ displayName: `${customer.name} (${customer.email})`, email: customer.email }),
    );
    const invoice = await step.run("create-invoice", () =>
      books.createInvoice({
        docNumber: `A-${appointment.id}`.slice(0, 21),
        customerId: account.id,
        billEmail: customer.email,
        lines: [{ description: appointment.service, amount: Number(appointment.price), quantity: 1 }],
      }),
    );
    await step.tag("invoice", invoice.docNumber);
    const text = await step.run("send-follow-up", () =>
      sms.sendSms({
        to: customer.phone,
        from: smsFrom,
        body: `Thanks for visiting, ${firstname}! Your invoice ${invoice.docNumber} is on its way. Reply STOP to opt out.`,
      }),
    );
    return { appointment: appointment.id, contactId: contact.id, invoiceId: invoice.id, sms: text.sid };
  },
});
