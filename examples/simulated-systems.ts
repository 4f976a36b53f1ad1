/**
 * In-memory stand-ins for the systems the example integrations talk to (CRM,
 * accounting, inventory, email), until they use real connectors against the
 * sandbox. Each call takes a few milliseconds and fails now and then with a
 * retryable error, the way a real API answers 503, so retries show up.
 * State lives in this process only: it is a simulation, not a record.
 */
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { RetryableError } from "../src/index.ts";

const failureRate = 0.1;

async function call(system: string): Promise<void> {
  await sleep(2 + Math.random() * 18);
  if (Math.random() < failureRate) {
    throw new RetryableError(`${system} answered 503 Service Unavailable (simulated); retrying`);
  }
}

const contactsByEmail = new Map<string, { contactId: string; name: string }>();

export const crm = {
  /** Check-then-act upsert keyed by email: running it twice leaves one contact. */
  async upsertContact(input: { email: string; name: string }) {
    await call("CRM");
    const existing = contactsByEmail.get(input.email);
    const contact = existing ?? { contactId: `ct_${randomUUID().slice(0, 8)}`, name: input.name };
    contactsByEmail.set(input.email, contact);
    return { contactId: contact.contactId, email: input.email, created: existing === undefined };
  },
};

const invoicesByIdempotencyKey = new Map<string, { invoiceId: string; total: number; currency: string }>();

export const accounting = {
  /** Like an API honouring `Idempotency-Key`: the same key returns the invoice created the first time. */
  async createInvoice(input: { idempotencyKey: string; orderId: string; total: number; currency: string }) {
    await call("accounting");
    const invoice = invoicesByIdempotencyKey.get(input.idempotencyKey) ?? {
      invoiceId: `inv_${randomUUID().slice(0, 8)}`,
      total: input.total,
      currency: input.currency,
    };
    invoicesByIdempotencyKey.set(input.idempotencyKey, invoice);
    return invoice;
  },

  async summarizeInvoices() {
    await call("accounting");
    const invoices = [...invoicesByIdempotencyKey.values()];
    return { count: invoices.length, total: Math.round(invoices.reduce((sum, i) => sum + i.total, 0) * 100) / 100 };
  },
};

const stockBySku = new Map<string, number>();
const initialStock = 500;

export const inventory = {
  async decrement(lines: { sku: string; quantity: number }[]) {
    await call("inventory");
    const remaining: Record<string, number> = {};
    for (const { sku, quantity } of lines) {
      const left = (stockBySku.get(sku) ?? initialStock) - quantity;
      stockBySku.set(sku, left);
      remaining[sku] = left;
    }
    return { remaining, backordered: Object.keys(remaining).filter((sku) => (remaining[sku] ?? 0) < 0) };
  },
};

export const email = {
  async send(input: { to: string; template: string }) {
    await call("email");
    return { messageId: `msg_${randomUUID().slice(0, 8)}`, to: input.to, template: input.template };
  },
};
