import { z } from "zod";

// ------------------------------------------------------------------ inputs

export const findOrCreateCustomerInput = z.object({
  /** Unique across the company's customers, vendors and employees (QBO refuses duplicates). */
  displayName: z.string().trim().min(1).max(500),
  email: z.email().optional(),
});

export const invoiceLineInput = z.object({
  description: z.string().max(4000),
  /** The unit price; the line's amount is `amount × quantity`. */
  amount: z.number().nonnegative(),
  /** Default 1. */
  quantity: z.number().positive().optional(),
  /** The product or service sold (an Item's Id); default "1", the "Services" item of a new QBO company. */
  itemId: z.string().min(1).optional(),
});

export const createInvoiceInput = z.object({
  /** The invoice number, unique per invoice by this connector's check (QBO itself allows duplicates). */
  docNumber: z.string().min(1).max(21),
  customerId: z.string().min(1),
  lines: z.array(invoiceLineInput).min(1),
  /** ISO 4217 code; only with multicurrency enabled in the company. Default: the home currency. */
  currency: z.string().length(3).optional(),
  /** Where QBO emails the invoice when it is sent. */
  billEmail: z.email().optional(),
});

export const findInvoiceByDocNumberInput = z.object({ docNumber: z.string().min(1).max(21) });

export const recordPaymentInput = z.object({
  invoiceId: z.string().min(1),
  customerId: z.string().min(1),
  /** Applied in full to the invoice. */
  amount: z.number().positive(),
  /** What makes this payment unique (a processor's payment id); kept in PaymentRefNum. */
  reference: z.string().min(1),
});

export type FindOrCreateCustomerInput = z.input<typeof findOrCreateCustomerInput>;
export type CreateInvoiceInput = z.input<typeof createInvoiceInput>;
export type RecordPaymentInput = z.input<typeof recordPaymentInput>;

// ------------------------------------------------------------------ outputs

export const customerOutput = z.object({
  id: z.string(),
  displayName: z.string(),
  /** False when the customer already existed: nothing was created now. */
  created: z.boolean(),
});

export const createInvoiceOutput = z.object({
  id: z.string(),
  docNumber: z.string(),
  totalAmt: z.number(),
  balance: z.number(),
  /** False when an invoice with this DocNumber already existed: nothing was created now. */
  created: z.boolean(),
});

export const invoiceOutput = z.object({
  id: z.string(),
  docNumber: z.string(),
  customerId: z.string(),
  totalAmt: z.number(),
  /** What is still owed; 0 when paid. */
  balance: z.number(),
  currency: z.string().nullable(),
});

export const recordPaymentOutput = z.object({
  id: z.string(),
  /** False when a payment with this reference already existed: nothing was recorded now. */
  created: z.boolean(),
});

export type QuickBooksCustomer = z.output<typeof customerOutput>;
export type CreatedInvoice = z.output<typeof createInvoiceOutput>;
export type QuickBooksInvoice = z.output<typeof invoiceOutput>;
export type RecordedPayment = z.output<typeof recordPaymentOutput>;

// ------------------------------------------------------------------ the API's answers

const reference = z.looseObject({ value: z.string() });

export const qboCustomer = z.looseObject({ Id: z.string(), DisplayName: z.string() });

export const qboInvoice = z.looseObject({
  Id: z.string(),
  DocNumber: z.string(),
  CustomerRef: reference,
  TotalAmt: z.number(),
  Balance: z.number(),
  CurrencyRef: reference.optional(),
});

export const qboPayment = z.looseObject({ Id: z.string(), PaymentRefNum: z.string().optional() });

export const customerAnswer = z.looseObject({ Customer: qboCustomer });
export const invoiceAnswer = z.looseObject({ Invoice: qboInvoice });
export const paymentAnswer = z.looseObject({ Payment: qboPayment });

/**
 * A query answer: `{ QueryResponse: { <Entity>: [...], startPosition, maxResults }, time }`, and an empty
 * `QueryResponse` when nothing matched. Rows present under another name (a renamed entity key) are a
 * shape change, not "nothing matched": a check-then-act must not create a duplicate because of it.
 */
export function queryAnswer<Row extends z.ZodType>(entity: string, row: Row) {
  return z.looseObject({
    QueryResponse: z
      .looseObject({ [entity]: z.array(row).optional() })
      .refine(
        (response) => response[entity] !== undefined || !("startPosition" in response || "maxResults" in response),
        {
          message: `has results but no "${entity}" list`,
        },
      ),
  });
}
