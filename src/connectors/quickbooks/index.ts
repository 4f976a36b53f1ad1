import { createHash } from "node:crypto";
import type { z } from "zod";
import type { ConnectionCredentials } from "../../connections/connection-config.ts";
import type { ConnectionClient } from "../../sdk/connection-client.ts";
import { NonRetryableError } from "../../sdk/errors.ts";
import { checkAnswer, defineConnector, defineOperation } from "../define-connector.ts";
import {
  type CreatedInvoice,
  createInvoiceInput,
  createInvoiceOutput,
  customerAnswer,
  customerOutput,
  findInvoiceByDocNumberInput,
  findOrCreateCustomerInput,
  invoiceAnswer,
  invoiceOutput,
  paymentAnswer,
  type QuickBooksCustomer,
  type QuickBooksInvoice,
  qboCustomer,
  qboInvoice,
  qboPayment,
  queryAnswer,
  type RecordedPayment,
  recordPaymentInput,
  recordPaymentOutput,
} from "./schemas.ts";

export * from "./schemas.ts";

export interface QuickBooksOptions {
  /** Default https://quickbooks.api.intuit.com (Intuit's development sandbox: https://sandbox-quickbooks.api.intuit.com). */
  baseUrl?: string;
  /** The company id Intuit adds to the OAuth callback (`realmId`); for the sandbox, `sandbox.system("accounting").realmId`. */
  realmId: string;
  /** Default https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer; for the sandbox, `${sandbox.baseUrl("accounting")}/oauth2/v1/tokens/bearer`. */
  tokenUrl?: string;
  /** Default https://appcenter.intuit.com/connect/oauth2; for the sandbox, `${sandbox.baseUrl("accounting")}/connect/oauth2`. */
  authorizationUrl?: string;
  /** `{ clientId, clientSecret }` of the app, and a `refreshToken` if already authorised. */
  credentials?: ConnectionCredentials;
  /** Default ["com.intuit.quickbooks.accounting"]. */
  scopes?: string[];
}

/**
 * Every request names the minor version the schemas follow. Intuit retired minor versions below 75 on
 * 2025-08-01 (older ones are served as 75), so 75 is both the floor and what the answers are read as.
 */
export const minorVersion = "75";
/** PaymentRefNum holds at most 21 characters; longer references are stored as a digest. */
const maxPaymentRefLength = 21;
/** QBO's largest page (MAXRESULTS). */
const pageSize = 1000;
/** QBO's "Duplicate Name Exists Error" (a customer, vendor or employee already has the DisplayName). */
const duplicateNameCode = "6240";

/**
 * QuickBooks Online Accounting API v3. QBO honours no idempotency key and allows two invoices with the
 * same DocNumber, so every create looks first (check-then-act): customers by DisplayName, invoices by
 * DocNumber, payments by PaymentRefNum.
 */
export const quickbooks = defineConnector({
  id: "quickbooks",
  title: "QuickBooks Online",
  apiVersion: `Accounting API v3, minorversion ${minorVersion}`,
  connection: (options: QuickBooksOptions) => ({
    baseUrl: `${(options.baseUrl ?? "https://quickbooks.api.intuit.com").replace(/\/$/, "")}/v3/company/${encodeURIComponent(options.realmId)}`,
    auth: {
      type: "oauth2",
      grant: "authorization_code",
      tokenUrl: options.tokenUrl ?? "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer",
      authorizationUrl: options.authorizationUrl ?? "https://appcenter.intuit.com/connect/oauth2",
      // Intuit authenticates the client with HTTP Basic at the token endpoint.
      clientAuth: "basic",
      scopes: options.scopes ?? ["com.intuit.quickbooks.accounting"],
    },
    ...(options.credentials ? { credentials: options.credentials } : {}),
    // Without Accept: application/json, QBO answers in XML.
    headers: { Accept: "application/json" },
    // Intuit throttles at 500 requests per minute per company (realm).
    rateLimit: "500 per 60s",
    idempotencyHeader: false,
  }),
  operations: {
    findOrCreateCustomer: defineOperation({
      description: "The customer with this DisplayName, created if there is none",
      input: findOrCreateCustomerInput,
      output: customerOutput,
      idempotency: "check-then-act",
      async call(client, input): Promise<QuickBooksCustomer> {
        const find = async () => {
          const rows = await query(
            client,
            "Customer",
            qboCustomer,
            customerQuery(input.displayName),
            "findOrCreateCustomer",
          );
          return rows[0];
        };
        const existing = await find();
        if (existing) return { id: existing.Id, displayName: existing.DisplayName, created: false };
        try {
          const response = await client.post("/customer", {
            query: { minorversion: minorVersion },
            json: {
              DisplayName: input.displayName,
              ...(input.email !== undefined ? { PrimaryEmailAddr: { Address: input.email } } : {}),
            },
          });
          const { Customer } = checkAnswer(
            customerAnswer,
            response.body,
            "quickbooks.findOrCreateCustomer (POST /customer)",
          );
          return { id: Customer.Id, displayName: Customer.DisplayName, created: true };
        } catch (error) {
          if (faultCode(error) !== duplicateNameCode) throw error;
          // Another run created it between the query and the create.
          const raced = await find();
          if (raced) return { id: raced.Id, displayName: raced.DisplayName, created: false };
          throw new NonRetryableError(
            `quickbooks.findOrCreateCustomer: the DisplayName "${input.displayName}" is taken by a vendor, an employee or an inactive customer; use another name or reactivate the customer`,
            { cause: error },
          );
        }
      },
    }),
    createInvoice: defineOperation({
      description: "Creates an invoice, unless one with this DocNumber exists",
      input: createInvoiceInput,
      output: createInvoiceOutput,
      idempotency: "check-then-act",
      async call(client, input): Promise<CreatedInvoice> {
        const existing = await findInvoices(client, input.docNumber, "createInvoice");
        if (existing.length > 0) {
          const same = existing.find((invoice) => invoice.CustomerRef.value === input.customerId);
          if (!same) {
            throw new NonRetryableError(
              `quickbooks.createInvoice: invoice ${input.docNumber} already exists for customer ${existing[0]?.CustomerRef.value}, not ${input.customerId}; invoice numbers must be unique`,
            );
          }
          return createdInvoice(same, false);
        }
        const response = await client.post("/invoice", {
          query: { minorversion: minorVersion },
          json: {
            CustomerRef: { value: input.customerId },
            DocNumber: input.docNumber,
            Line: input.lines.map((line) => {
              const quantity = line.quantity ?? 1;
              return {
                DetailType: "SalesItemLineDetail",
                Amount: roundCents(line.amount * quantity),
                Description: line.description,
                SalesItemLineDetail: { ItemRef: { value: line.itemId ?? "1" }, Qty: quantity, UnitPrice: line.amount },
              };
            }),
            ...(input.currency !== undefined ? { CurrencyRef: { value: input.currency.toUpperCase() } } : {}),
            ...(input.billEmail !== undefined ? { BillEmail: { Address: input.billEmail } } : {}),
          },
        });
        const { Invoice } = checkAnswer(invoiceAnswer, response.body, "quickbooks.createInvoice (POST /invoice)");
        return createdInvoice(Invoice, true);
      },
    }),
    findInvoiceByDocNumber: defineOperation({
      description: "The invoice with this DocNumber (the first created, if several), or null",
      input: findInvoiceByDocNumberInput,
      output: invoiceOutput.nullable(),
      idempotency: "read",
      async call(client, input): Promise<QuickBooksInvoice | null> {
        const [invoice] = await findInvoices(client, input.docNumber, "findInvoiceByDocNumber");
        if (!invoice) return null;
        return {
          id: invoice.Id,
          docNumber: invoice.DocNumber,
          customerId: invoice.CustomerRef.value,
          totalAmt: invoice.TotalAmt,
          balance: invoice.Balance,
          currency: invoice.CurrencyRef?.value ?? null,
        };
      },
    }),
    recordPayment: defineOperation({
      description: "Records a payment applied to an invoice, unless one with this reference exists",
      input: recordPaymentInput,
      output: recordPaymentOutput,
      idempotency: "check-then-act",
      async call(client, input): Promise<RecordedPayment> {
        const paymentRefNum = storedPaymentRef(input.reference);
        const existing = await findPayment(client, input.customerId, paymentRefNum);
        if (existing) return { id: existing, created: false };
        const response = await client.post("/payment", {
          query: { minorversion: minorVersion },
          json: {
            CustomerRef: { value: input.customerId },
            TotalAmt: input.amount,
            PaymentRefNum: paymentRefNum,
            ...(paymentRefNum !== input.reference ? { PrivateNote: `Reference: ${input.reference}` } : {}),
            Line: [{ Amount: input.amount, LinkedTxn: [{ TxnId: input.invoiceId, TxnType: "Invoice" }] }],
          },
        });
        const { Payment } = checkAnswer(paymentAnswer, response.body, "quickbooks.recordPayment (POST /payment)");
        return { id: Payment.Id, created: true };
      },
    }),
  },
});

async function query<Row extends z.ZodType>(
  client: ConnectionClient,
  entity: string,
  row: Row,
  text: string,
  where: string,
): Promise<Array<z.output<Row>>> {
  const response = await client.get("/query", { query: { query: text, minorversion: minorVersion } });
  // An answer of another shape must fail the step, not read as "nothing there yet".
  const answer = checkAnswer(queryAnswer(entity, row), response.body, `quickbooks.${where} (GET /query, ${entity})`);
  return (answer.QueryResponse[entity] as Array<z.output<Row>> | undefined) ?? [];
}

function findInvoices(client: ConnectionClient, docNumber: string, where: string) {
  return query(
    client,
    "Invoice",
    qboInvoice,
    `select * from Invoice where DocNumber = '${quoted(docNumber)}' orderby Id startposition 1 maxresults ${pageSize}`,
    where,
  );
}

/**
 * The customer's payments are read (CustomerRef is a documented Payment filter) and the reference
 * matched here, a page at a time, rather than relying on PaymentRefNum being filterable. Pages are
 * ordered by Id: without an ORDERBY, QBO's order is unspecified, so a payment could fall between two
 * pages, be missed, and be recorded twice.
 */
async function findPayment(
  client: ConnectionClient,
  customerId: string,
  paymentRefNum: string,
): Promise<string | undefined> {
  for (let start = 1; ; start += pageSize) {
    const text = `select * from Payment where CustomerRef = '${quoted(customerId)}' orderby Id startposition ${start} maxresults ${pageSize}`;
    const rows = await query(client, "Payment", qboPayment, text, "recordPayment");
    const found = rows.find((payment) => payment.PaymentRefNum === paymentRefNum);
    if (found) return found.Id;
    if (rows.length < pageSize) return undefined;
  }
}

function customerQuery(displayName: string): string {
  return `select * from Customer where DisplayName = '${quoted(displayName)}'`;
}

/** QBO query strings are single-quoted, with backslash escapes. */
function quoted(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll("'", "\\'");
}

function storedPaymentRef(reference: string): string {
  if (reference.length <= maxPaymentRefLength) return reference;
  return `h${createHash("sha256")
    .update(reference)
    .digest("base64url")
    .slice(0, maxPaymentRefLength - 1)}`;
}

function roundCents(value: number): number {
  return Math.round(value * 100) / 100;
}

function createdInvoice(invoice: z.output<typeof qboInvoice>, created: boolean): CreatedInvoice {
  return {
    id: invoice.Id,
    docNumber: invoice.DocNumber,
    totalAmt: invoice.TotalAmt,
    balance: invoice.Balance,
    created,
  };
}

/** The `code` of a QBO validation fault carried by a refused request, if any. */
function faultCode(error: unknown): string | undefined {
  if (!(error instanceof NonRetryableError) || error.response?.status !== 400) return undefined;
  try {
    const body = JSON.parse(error.response.body) as { Fault?: { Error?: Array<{ code?: unknown }> } };
    const code = body.Fault?.Error?.[0]?.code;
    return typeof code === "string" ? code : undefined;
  } catch {
    return undefined;
  }
}
