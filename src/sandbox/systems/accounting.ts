import { randomUUID } from "node:crypto";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { type OAuthCounters, OAuthProvider, randomString } from "../oauth-provider.ts";
import type { SandboxContext, SandboxSystem } from "../sandbox-system.ts";
import {
  businessRule,
  invalidReference,
  missing,
  objectNotFound,
  QboFault,
  queryParseError,
  unsupported,
} from "./qbo-fault.ts";
import { type EntityName, parseQuery, type QueryableFields, selectIds } from "./qbo-query.ts";

/**
 * A QuickBooks-Online-like accounting system speaking the Accounting API v3 (minor version 75,
 * https://developer.intuit.com/app/developer/qbo/docs/api/accounting/most-commonly-used/invoice):
 * customers, invoices and payments of one company (realm), the QBO query language for reads, QBO's
 * `Fault` error bodies, and OAuth 2.0 with one-hour access tokens and refresh-token rotation.
 * Like QBO it honours no idempotency header and accepts invoices with a DocNumber already in use,
 * so a client that retries a create must look first (check-then-act).
 */

export interface AccountingOptions {
  clientId?: string;
  clientSecret?: string;
  /** The company id; generated (16 digits, like Intuit's) when not given. */
  realmId?: string;
  /** Default 3600 (Intuit's one hour). */
  accessTokenTtlSeconds?: number;
  /** Default true, as Intuit does. */
  rotateRefreshTokens?: boolean;
  /** Exact redirect URIs registered for the app; default any. */
  redirectUris?: readonly string[];
}

export interface AccountingSystem extends SandboxSystem {
  /** The company (realm) id in the API paths: `/v3/company/{realmId}/…`. */
  readonly realmId: string;
  /** A person authorises the app again (Intuit's consent screen): a fresh refresh token, ready for `connections.setCredentials`. */
  authorize(): { refreshToken: string };
  state(): AccountingState;
  /** A person deletes an invoice in QuickBooks' own UI (out of band): no webhook, no trace but its absence. */
  deleteInvoice(id: string): void;
  /** A person edits an invoice's total in QuickBooks' UI (out of band): its one amount line is set to it. */
  editInvoice(id: string, edit: { totalAmt: number }): void;
  /**
   * Creates invoices at once (a customer per distinct email), for tests and benchmarks at scale: each with one
   * line of `totalCents` and `billEmail`.
   */
  seedInvoices(invoices: Iterable<{ docNumber: string; email: string; totalCents: number }>): void;
}

/** Amounts in the company's currency units (59.99), as QBO shows them. */
export interface AccountingState {
  realmId: string;
  customers: Array<{ id: string; displayName: string; email: string | null; balance: number }>;
  invoices: Array<{
    id: string;
    docNumber: string;
    customerId: string;
    currency: string;
    totalAmt: number;
    balance: number;
    /** The balance is 0. */
    paid: boolean;
    paymentIds: string[];
  }>;
  payments: Array<{
    id: string;
    customerId: string;
    totalAmt: number;
    unappliedAmt: number;
    paymentRefNum: string | null;
    invoiceIds: string[];
  }>;
  counts: {
    customers: number;
    invoices: number;
    paidInvoices: number;
    payments: number;
    /** DocNumbers carried by more than one invoice: QBO allows it, so a check-then-act that failed shows here. */
    duplicateDocNumbers: number;
  };
  oauth: OAuthCounters;
}

interface Customer {
  id: string;
  syncToken: number;
  displayName: string;
  givenName: string | undefined;
  familyName: string | undefined;
  companyName: string | undefined;
  email: string | undefined;
  /** Cents: what the customer owes on open invoices. */
  balance: number;
  createdAt: number;
  updatedAt: number;
}

interface InvoiceLine {
  description: string | undefined;
  /** Cents. */
  amount: number;
  detailType: "SalesItemLineDetail" | "DescriptionOnly";
  itemId: string | undefined;
  qty: number | undefined;
  unitPrice: number | undefined;
}

interface Invoice {
  id: string;
  syncToken: number;
  docNumber: string;
  customerId: string;
  lines: InvoiceLine[];
  /** Cents. */
  totalAmt: number;
  /** Cents still owed. */
  balance: number;
  currency: string;
  billEmail: string | undefined;
  txnDate: string;
  dueDate: string;
  paymentIds: string[];
  createdAt: number;
  updatedAt: number;
}

interface Payment {
  id: string;
  customerId: string;
  /** Cents. */
  totalAmt: number;
  unappliedAmt: number;
  paymentRefNum: string | undefined;
  privateNote: string | undefined;
  lines: Array<{ amount: number; invoiceId: string }>;
  currency: string;
  txnDate: string;
  createdAt: number;
}

const items: Record<string, string> = { "1": "Services", "2": "Hours" };
const currencyNames: Record<string, string> = {
  USD: "United States Dollar",
  EUR: "Euro",
  GBP: "British Pound Sterling",
  CAD: "Canadian Dollar",
  AUD: "Australian Dollar",
};
/** QBO answers in the company's time zone; the sandbox company is on US Pacific (daylight) time. */
const companyOffsetMinutes = -7 * 60;

export function createAccounting(context: SandboxContext, options: AccountingOptions = {}): AccountingSystem {
  const realmId = options.realmId ?? `9341${randomString(12, "0123456789")}`;
  const oauth = new OAuthProvider({
    now: context.now,
    consentTitle: "Accounting (QuickBooks-like sandbox)",
    clientId: options.clientId,
    clientSecret: options.clientSecret,
    clientAuth: "basic",
    accessTokenTtlSeconds: options.accessTokenTtlSeconds ?? 3600,
    rotateRefreshTokens: options.rotateRefreshTokens ?? true,
    redirectUris: options.redirectUris,
    format: {
      clientId: () => `AB${randomString(48)}`,
      clientSecret: () => randomString(40),
      accessToken: () => `eyJlbmMiOiJBMTI4Q0JDLUhTMjU2IiwiYWxnIjoiZGlyIn0..${randomString(22)}.${randomString(600)}`,
      refreshToken: () => `AB11${randomString(10, "0123456789")}${randomString(36)}`,
    },
    tokenResponseExtras: { x_refresh_token_expires_in: 8_726_400 },
    callbackParams: { realmId },
  });
  const customers = new Map<string, Customer>();
  const invoices = new Map<string, Invoice>();
  const payments = new Map<string, Payment>();
  let nextId = 1;
  let nextDocNumber = 1001;

  const money = (cents: number) => cents / 100;
  const today = () => localTime(context.now()).slice(0, 10);

  // ------------------------------------------------------------------ JSON as QBO writes it

  function customerJson(customer: Customer): Record<string, unknown> {
    return {
      Id: customer.id,
      SyncToken: String(customer.syncToken),
      domain: "QBO",
      sparse: false,
      DisplayName: customer.displayName,
      FullyQualifiedName: customer.displayName,
      PrintOnCheckName: customer.displayName,
      ...(customer.givenName ? { GivenName: customer.givenName } : {}),
      ...(customer.familyName ? { FamilyName: customer.familyName } : {}),
      ...(customer.companyName ? { CompanyName: customer.companyName } : {}),
      ...(customer.email ? { PrimaryEmailAddr: { Address: customer.email } } : {}),
      Active: true,
      Job: false,
      BillWithParent: false,
      Taxable: false,
      Balance: money(customer.balance),
      BalanceWithJobs: money(customer.balance),
      CurrencyRef: currencyRef("USD"),
      PreferredDeliveryMethod: "Print",
      MetaData: metaData(customer.createdAt, customer.updatedAt),
    };
  }

  function invoiceJson(invoice: Invoice): Record<string, unknown> {
    const customer = customers.get(invoice.customerId);
    const lines: Array<Record<string, unknown>> = invoice.lines.map((line, index) => ({
      Id: String(index + 1),
      LineNum: index + 1,
      ...(line.description !== undefined ? { Description: line.description } : {}),
      Amount: money(line.amount),
      DetailType: line.detailType,
      ...(line.detailType === "SalesItemLineDetail"
        ? {
            SalesItemLineDetail: {
              ItemRef: { value: line.itemId, name: items[line.itemId ?? ""] },
              ...(line.qty !== undefined ? { Qty: line.qty } : {}),
              ...(line.unitPrice !== undefined ? { UnitPrice: line.unitPrice } : {}),
              TaxCodeRef: { value: "NON" },
            },
          }
        : { DescriptionLineDetail: {} }),
    }));
    lines.push({ Amount: money(invoice.totalAmt), DetailType: "SubTotalLineDetail", SubTotalLineDetail: {} });
    return {
      Id: invoice.id,
      SyncToken: String(invoice.syncToken),
      domain: "QBO",
      sparse: false,
      DocNumber: invoice.docNumber,
      TxnDate: invoice.txnDate,
      DueDate: invoice.dueDate,
      CurrencyRef: currencyRef(invoice.currency),
      CustomerRef: { value: invoice.customerId, name: customer?.displayName },
      Line: lines,
      TxnTaxDetail: { TotalTax: 0 },
      TotalAmt: money(invoice.totalAmt),
      Balance: money(invoice.balance),
      Deposit: 0,
      ApplyTaxAfterDiscount: false,
      PrintStatus: "NeedToPrint",
      EmailStatus: invoice.billEmail ? "NeedToSend" : "NotSet",
      ...(invoice.billEmail ? { BillEmail: { Address: invoice.billEmail } } : {}),
      LinkedTxn: invoice.paymentIds.map((id) => ({ TxnId: id, TxnType: "Payment" })),
      MetaData: metaData(invoice.createdAt, invoice.updatedAt),
    };
  }

  function paymentJson(payment: Payment): Record<string, unknown> {
    return {
      Id: payment.id,
      SyncToken: "0",
      domain: "QBO",
      sparse: false,
      TxnDate: payment.txnDate,
      CurrencyRef: currencyRef(payment.currency),
      CustomerRef: { value: payment.customerId, name: customers.get(payment.customerId)?.displayName },
      TotalAmt: money(payment.totalAmt),
      UnappliedAmt: money(payment.unappliedAmt),
      ProcessPayment: false,
      ...(payment.paymentRefNum !== undefined ? { PaymentRefNum: payment.paymentRefNum } : {}),
      ...(payment.privateNote !== undefined ? { PrivateNote: payment.privateNote } : {}),
      Line: payment.lines.map((line) => ({
        Amount: money(line.amount),
        LinkedTxn: [{ TxnId: line.invoiceId, TxnType: "Invoice" }],
      })),
      MetaData: metaData(payment.createdAt, payment.createdAt),
    };
  }

  const answer = (entity: EntityName, json: Record<string, unknown>) => ({
    [entity]: json,
    time: localTime(context.now(), true),
  });

  // ------------------------------------------------------------------ writes

  function createCustomer(body: Record<string, unknown>): Customer {
    if (body.Id !== undefined) throw unsupported("updating a customer (POST with Id and SyncToken)");
    const givenName = optionalString(body, "GivenName", 100);
    const familyName = optionalString(body, "FamilyName", 100);
    const companyName = optionalString(body, "CompanyName", 100);
    const derived = [givenName, familyName].filter(Boolean).join(" ") || companyName;
    const displayName = (optionalString(body, "DisplayName", 500) ?? derived)?.trim();
    if (!displayName) throw missing("DisplayName");
    const taken = [...customers.values()].some((c) => c.displayName.toLowerCase() === displayName.toLowerCase());
    if (taken) {
      throw new QboFault(400, {
        Message: "Duplicate Name Exists Error",
        Detail:
          "The name supplied already exists. : Another customer, vendor or employee is already using this name. Please use a different name.",
        code: "6240",
        element: "",
      });
    }
    const now = context.now();
    const email = (body.PrimaryEmailAddr as { Address?: unknown } | undefined)?.Address;
    const customer: Customer = {
      id: String(nextId++),
      syncToken: 0,
      displayName,
      givenName,
      familyName,
      companyName,
      email: typeof email === "string" && email !== "" ? email : undefined,
      balance: 0,
      createdAt: now,
      updatedAt: now,
    };
    customers.set(customer.id, customer);
    return customer;
  }

  function createInvoice(body: Record<string, unknown>): Invoice {
    if (body.Id !== undefined) throw unsupported("updating an invoice (POST with Id and SyncToken)");
    const customer = referencedCustomer(body.CustomerRef);
    const docNumber = optionalString(body, "DocNumber", 21) ?? String(nextDocNumber++);
    if (!Array.isArray(body.Line) || body.Line.length === 0) throw missing("Line");
    const lines = body.Line.map((line: unknown) => readInvoiceLine(line));
    const totalAmt = lines.reduce((sum, line) => sum + line.amount, 0);
    if (totalAmt < 0) {
      throw businessRule("Transaction amount must be 0 or greater.", "TotalAmt");
    }
    const currency = readCurrency(body.CurrencyRef);
    const billEmail = (body.BillEmail as { Address?: unknown } | undefined)?.Address;
    const txnDate = optionalDate(body, "TxnDate") ?? today();
    const now = context.now();
    const invoice: Invoice = {
      id: String(nextId++),
      syncToken: 0,
      docNumber,
      customerId: customer.id,
      lines,
      totalAmt,
      balance: totalAmt,
      currency,
      billEmail: typeof billEmail === "string" && billEmail !== "" ? billEmail : undefined,
      txnDate,
      dueDate: optionalDate(body, "DueDate") ?? addDays(txnDate, 30),
      paymentIds: [],
      createdAt: now,
      updatedAt: now,
    };
    invoices.set(invoice.id, invoice);
    customer.balance += totalAmt;
    return invoice;
  }

  function readInvoiceLine(input: unknown): InvoiceLine {
    const line = (input ?? {}) as Record<string, unknown>;
    const detailType = line.DetailType;
    if (detailType !== "SalesItemLineDetail" && detailType !== "DescriptionOnly") {
      throw new QboFault(400, {
        Message: "Request has invalid or unsupported property",
        Detail: `Property Name:DetailType specified is unsupported or invalid: ${String(detailType)} (the sandbox takes SalesItemLineDetail or DescriptionOnly)`,
        code: "2010",
        element: "Line.DetailType",
      });
    }
    const amount = readMoney(line.Amount, "Line.Amount");
    const description = typeof line.Description === "string" ? line.Description : undefined;
    if (detailType === "DescriptionOnly") {
      return { description, amount, detailType, itemId: undefined, qty: undefined, unitPrice: undefined };
    }
    const detail = (line.SalesItemLineDetail ?? {}) as Record<string, unknown>;
    const itemId = (detail.ItemRef as { value?: unknown } | undefined)?.value;
    if (itemId === undefined) throw missing("Line.SalesItemLineDetail.ItemRef");
    if (typeof itemId !== "string" || items[itemId] === undefined) throw invalidReference("ItemRef", String(itemId));
    const qty = optionalNumber(detail.Qty, "Qty");
    const unitPrice = optionalNumber(detail.UnitPrice, "UnitPrice");
    if (qty !== undefined && unitPrice !== undefined && Math.round(qty * unitPrice * 100) !== amount) {
      throw new QboFault(400, {
        Message: "Amount is not equal to UnitPrice * Qty",
        Detail: `Amount is not equal to UnitPrice * Qty. Supplied value:${money(amount)}`,
        code: "6070",
        element: "",
      });
    }
    return { description, amount, detailType, itemId, qty, unitPrice };
  }

  function createPayment(body: Record<string, unknown>): Payment {
    if (body.Id !== undefined) throw unsupported("updating a payment (POST with Id and SyncToken)");
    const customer = referencedCustomer(body.CustomerRef);
    const totalAmt = readMoney(body.TotalAmt, "TotalAmt");
    if (totalAmt < 0) throw businessRule("Payment amount must be 0 or greater.", "TotalAmt");
    const paymentRefNum = optionalString(body, "PaymentRefNum", 21);
    const privateNote = optionalString(body, "PrivateNote", 4000);
    const lines = (Array.isArray(body.Line) ? body.Line : []).map((input: unknown) => {
      const line = (input ?? {}) as Record<string, unknown>;
      const amount = readMoney(line.Amount, "Line.Amount");
      const linked = Array.isArray(line.LinkedTxn)
        ? (line.LinkedTxn[0] as Record<string, unknown> | undefined)
        : undefined;
      if (linked?.TxnType !== "Invoice" || typeof linked.TxnId !== "string") throw missing("Line.LinkedTxn");
      const invoice = invoices.get(linked.TxnId);
      if (!invoice) throw invalidReference("LinkedTxn", linked.TxnId);
      if (invoice.customerId !== customer.id) {
        throw businessRule(`Invoice ${invoice.id} belongs to another customer than the payment's.`, "LinkedTxn");
      }
      return { amount, invoice };
    });
    const applied = lines.reduce((sum, line) => sum + line.amount, 0);
    if (applied > totalAmt) {
      throw businessRule("The amount applied to invoices is more than the payment's TotalAmt.", "TotalAmt");
    }
    const appliedByInvoice = new Map<Invoice, number>();
    for (const { amount, invoice } of lines)
      appliedByInvoice.set(invoice, (appliedByInvoice.get(invoice) ?? 0) + amount);
    for (const [invoice, amount] of appliedByInvoice) {
      if (amount > invoice.balance) {
        throw businessRule(
          `The amount applied to invoice ${invoice.id} (${money(amount)}) is more than its open balance (${money(invoice.balance)}).`,
          "Line.Amount",
        );
      }
    }
    const now = context.now();
    const payment: Payment = {
      id: String(nextId++),
      customerId: customer.id,
      totalAmt,
      unappliedAmt: totalAmt - applied,
      paymentRefNum,
      privateNote,
      lines: lines.map(({ amount, invoice }) => ({ amount, invoiceId: invoice.id })),
      currency: readCurrency(body.CurrencyRef),
      txnDate: optionalDate(body, "TxnDate") ?? today(),
      createdAt: now,
    };
    for (const { amount, invoice } of lines) {
      invoice.balance -= amount;
      invoice.syncToken += 1;
      invoice.updatedAt = now;
      if (!invoice.paymentIds.includes(payment.id)) invoice.paymentIds.push(payment.id);
    }
    customer.balance -= applied;
    payments.set(payment.id, payment);
    return payment;
  }

  function referencedCustomer(ref: unknown): Customer {
    const id = (ref as { value?: unknown } | undefined)?.value;
    if (id === undefined || id === "") throw missing("CustomerRef");
    const customer = typeof id === "string" ? customers.get(id) : undefined;
    if (!customer) throw invalidReference("CustomerRef", String(id));
    return customer;
  }

  // ------------------------------------------------------------------ query

  const queryable: Record<EntityName, QueryableFields> = {
    Customer: {
      id: (id) => id,
      displayname: (id) => customers.get(id)?.displayName,
      givenname: (id) => customers.get(id)?.givenName,
      familyname: (id) => customers.get(id)?.familyName,
      companyname: (id) => customers.get(id)?.companyName,
      primaryemailaddr: (id) => customers.get(id)?.email,
      active: () => true,
      balance: (id) => money(customers.get(id)?.balance ?? 0),
      "metadata.createtime": (id) => localTime(customers.get(id)?.createdAt ?? 0),
      "metadata.lastupdatedtime": (id) => localTime(customers.get(id)?.updatedAt ?? 0),
    },
    Invoice: {
      id: (id) => id,
      docnumber: (id) => invoices.get(id)?.docNumber,
      customerref: (id) => invoices.get(id)?.customerId,
      txndate: (id) => invoices.get(id)?.txnDate,
      duedate: (id) => invoices.get(id)?.dueDate,
      totalamt: (id) => money(invoices.get(id)?.totalAmt ?? 0),
      balance: (id) => money(invoices.get(id)?.balance ?? 0),
      "metadata.createtime": (id) => localTime(invoices.get(id)?.createdAt ?? 0),
      "metadata.lastupdatedtime": (id) => localTime(invoices.get(id)?.updatedAt ?? 0),
    },
    Payment: {
      id: (id) => id,
      customerref: (id) => payments.get(id)?.customerId,
      paymentrefnum: (id) => payments.get(id)?.paymentRefNum,
      txndate: (id) => payments.get(id)?.txnDate,
      totalamt: (id) => money(payments.get(id)?.totalAmt ?? 0),
      "metadata.createtime": (id) => localTime(payments.get(id)?.createdAt ?? 0),
      "metadata.lastupdatedtime": (id) => localTime(payments.get(id)?.createdAt ?? 0),
    },
  };

  function runQuery(text: string): Record<string, unknown> {
    const query = parseQuery(text);
    const records = query.entity === "Customer" ? customers : query.entity === "Invoice" ? invoices : payments;
    let ids = selectIds(query, [...records.keys()], queryable[query.entity]);
    const time = localTime(context.now(), true);
    if (query.count) return { QueryResponse: { totalCount: ids.length }, time };
    ids = ids.slice(query.startPosition - 1, query.startPosition - 1 + query.maxResults);
    if (ids.length === 0) return { QueryResponse: {}, time };
    const toJson = query.entity === "Customer" ? customerJson : query.entity === "Invoice" ? invoiceJson : paymentJson;
    const rows = ids.map((id) => toJson((records as Map<string, never>).get(id) as never));
    return {
      QueryResponse: { [query.entity]: rows, startPosition: query.startPosition, maxResults: rows.length },
      time,
    };
  }

  // ------------------------------------------------------------------ routes

  function sendFault(reply: FastifyReply, fault: QboFault) {
    return reply
      .code(fault.status)
      .send({ Fault: { Error: [fault.error], type: fault.type }, time: localTime(context.now(), true) });
  }

  async function authorizeRequest(request: FastifyRequest, reply: FastifyReply) {
    reply.header("intuit_tid", `1-${randomUUID().replaceAll("-", "").slice(0, 24)}`);
    const result = oauth.authenticate(request.headers.authorization);
    if (!result.ok) {
      return reply
        .code(401)
        .header("www-authenticate", 'Bearer realm="Intuit", error="invalid_token"')
        .send({
          fault: {
            error: [
              {
                message: "message=AuthenticationFailed; errorCode=003200; statusCode=401",
                detail: "Token revoked or expired",
                code: "3200",
              },
            ],
            type: "AUTHENTICATION",
          },
          time: localTime(context.now(), true),
        });
    }
    if ((request.params as { realmId?: string }).realmId !== realmId) {
      // The token was granted for another company.
      return sendFault(
        reply,
        new QboFault(
          403,
          {
            Message: "message=ApplicationAuthorizationFailed; errorCode=003100; statusCode=403",
            Detail: "",
            code: "3100",
          },
          "SERVICE",
        ),
      );
    }
  }

  function registerApi(api: FastifyInstance): void {
    api.addHook("preHandler", authorizeRequest);
    api.setErrorHandler((error, _request, reply) => {
      if (error instanceof QboFault) return sendFault(reply, error);
      const status = (error as { statusCode?: number }).statusCode ?? 500;
      return sendFault(
        reply,
        new QboFault(
          status < 500 ? 400 : 500,
          {
            Message: status < 500 ? "Request has invalid or unsupported property" : "An application error has occurred",
            Detail: (error as Error).message,
            code: status < 500 ? "2010" : "10000",
          },
          status < 500 ? "ValidationFault" : "SystemFault",
        ),
      );
    });
    const base = "/v3/company/:realmId";
    const jsonBody = (request: FastifyRequest): Record<string, unknown> => {
      if (typeof request.body !== "object" || request.body === null || Array.isArray(request.body)) {
        throw new QboFault(400, {
          Message: "Request has invalid or unsupported property",
          Detail: "the request body must be a JSON object sent with Content-Type: application/json",
          code: "2010",
        });
      }
      return request.body as Record<string, unknown>;
    };
    const found = <T>(record: T | undefined): T => {
      if (record === undefined) throw objectNotFound();
      return record;
    };
    const id = (request: FastifyRequest) => (request.params as { id: string }).id;

    api.get(`${base}/query`, async (request) => {
      const text = (request.query as { query?: unknown }).query;
      if (typeof text !== "string" || text.trim() === "") throw queryParseError("the query parameter is empty");
      return runQuery(text);
    });
    api.post(`${base}/customer`, async (request) =>
      answer("Customer", customerJson(createCustomer(jsonBody(request)))),
    );
    api.get(`${base}/customer/:id`, async (request) =>
      answer("Customer", customerJson(found(customers.get(id(request))))),
    );
    api.post(`${base}/invoice`, async (request) => answer("Invoice", invoiceJson(createInvoice(jsonBody(request)))));
    api.get(`${base}/invoice/:id`, async (request) => answer("Invoice", invoiceJson(found(invoices.get(id(request))))));
    api.post(`${base}/payment`, async (request) => answer("Payment", paymentJson(createPayment(jsonBody(request)))));
    api.get(`${base}/payment/:id`, async (request) => answer("Payment", paymentJson(found(payments.get(id(request))))));
  }

  function deleteInvoice(id: string): void {
    const invoice = invoices.get(id);
    if (!invoice) throw objectNotFound();
    invoices.delete(id);
    const customer = customers.get(invoice.customerId);
    if (customer) customer.balance -= invoice.balance;
    // As QBO does, the payments applied to it stay, their amount unapplied now.
    for (const paymentId of invoice.paymentIds) {
      const payment = payments.get(paymentId);
      if (!payment) continue;
      const applied = payment.lines.filter((line) => line.invoiceId === id).reduce((sum, line) => sum + line.amount, 0);
      payment.lines = payment.lines.filter((line) => line.invoiceId !== id);
      payment.unappliedAmt += applied;
    }
  }

  function editInvoice(id: string, edit: { totalAmt: number }): void {
    const invoice = invoices.get(id);
    if (!invoice) throw objectNotFound();
    const total = Math.round(Number(edit?.totalAmt) * 100);
    if (!Number.isFinite(total) || total < 0)
      throw businessRule("Transaction amount must be 0 or greater.", "TotalAmt");
    const paid = invoice.totalAmt - invoice.balance;
    invoice.lines = [
      {
        description: "Edited by hand",
        amount: total,
        detailType: "DescriptionOnly",
        itemId: undefined,
        qty: undefined,
        unitPrice: undefined,
      },
    ];
    const customer = customers.get(invoice.customerId);
    if (customer) customer.balance += total - paid - invoice.balance;
    invoice.totalAmt = total;
    invoice.balance = total - paid;
    invoice.syncToken += 1;
    invoice.updatedAt = context.now();
  }

  function seedInvoices(list: Iterable<{ docNumber: string; email: string; totalCents: number }>): void {
    const byEmail = new Map([...customers.values()].flatMap((c) => (c.email ? [[c.email, c] as const] : [])));
    const now = context.now();
    for (const seeded of list) {
      let customer = byEmail.get(seeded.email);
      if (!customer) {
        customer = createCustomer({ DisplayName: seeded.email, PrimaryEmailAddr: { Address: seeded.email } });
        byEmail.set(seeded.email, customer);
      }
      const invoice: Invoice = {
        id: String(nextId++),
        syncToken: 0,
        docNumber: seeded.docNumber,
        customerId: customer.id,
        lines: [
          {
            description: "Seeded",
            amount: seeded.totalCents,
            detailType: "DescriptionOnly",
            itemId: undefined,
            qty: undefined,
            unitPrice: undefined,
          },
        ],
        totalAmt: seeded.totalCents,
        balance: seeded.totalCents,
        currency: "USD",
        billEmail: seeded.email,
        txnDate: today(),
        dueDate: addDays(today(), 30),
        paymentIds: [],
        createdAt: now,
        updatedAt: now,
      };
      invoices.set(invoice.id, invoice);
      customer.balance += seeded.totalCents;
    }
  }

  const invoiceCountsByDocNumber = () => {
    const counts = new Map<string, number>();
    for (const invoice of invoices.values()) counts.set(invoice.docNumber, (counts.get(invoice.docNumber) ?? 0) + 1);
    return counts;
  };

  return {
    name: "accounting",
    realmId,
    registerRoutes(app) {
      oauth.registerRoutes(app, { authorize: "/connect/oauth2", token: "/oauth2/v1/tokens/bearer" });
      app.register(async (api) => registerApi(api));
    },
    registerControlRoutes(app) {
      oauth.registerControlRoutes(app);
      // A person's changes in QuickBooks' own UI: nothing tells an integration (what reconciliation is for).
      app.delete("/invoices/:id", async (request, reply) => {
        const id = (request.params as { id: string }).id;
        if (!invoices.has(id)) return reply.code(404).send({ error: "not_found", message: `no invoice ${id}` });
        deleteInvoice(id);
        return reply.code(204).send();
      });
      app.patch("/invoices/:id", async (request, reply) => {
        const id = (request.params as { id: string }).id;
        if (!invoices.has(id)) return reply.code(404).send({ error: "not_found", message: `no invoice ${id}` });
        const totalAmt = (request.body as { totalAmt?: unknown } | undefined)?.totalAmt;
        if (typeof totalAmt !== "number" || !(totalAmt >= 0)) {
          return reply
            .code(400)
            .send({ error: "invalid_request", message: "send { totalAmt: <amount ≥ 0> }, e.g. { totalAmt: 59.99 }" });
        }
        editInvoice(id, { totalAmt });
        return invoiceJson(invoices.get(id) as Invoice);
      });
    },
    state(): AccountingState {
      const invoiceList = [...invoices.values()];
      return {
        realmId,
        customers: [...customers.values()].map((c) => ({
          id: c.id,
          displayName: c.displayName,
          email: c.email ?? null,
          balance: money(c.balance),
        })),
        invoices: invoiceList.map((i) => ({
          id: i.id,
          docNumber: i.docNumber,
          customerId: i.customerId,
          currency: i.currency,
          totalAmt: money(i.totalAmt),
          balance: money(i.balance),
          paid: i.balance === 0,
          paymentIds: [...i.paymentIds],
        })),
        payments: [...payments.values()].map((p) => ({
          id: p.id,
          customerId: p.customerId,
          totalAmt: money(p.totalAmt),
          unappliedAmt: money(p.unappliedAmt),
          paymentRefNum: p.paymentRefNum ?? null,
          invoiceIds: p.lines.map((l) => l.invoiceId),
        })),
        counts: {
          customers: customers.size,
          invoices: invoices.size,
          paidInvoices: invoiceList.filter((i) => i.balance === 0).length,
          payments: payments.size,
          duplicateDocNumbers: [...invoiceCountsByDocNumber().values()].filter((count) => count > 1).length,
        },
        oauth: oauth.counters(),
      };
    },
    counts() {
      let paidInvoices = 0;
      for (const invoice of invoices.values()) if (invoice.balance === 0) paidInvoices += 1;
      return { customers: customers.size, invoices: invoices.size, payments: payments.size, paidInvoices };
    },
    credentials() {
      return oauth.connectionCredentials();
    },
    identifiers() {
      return { realmId };
    },
    revokeCredentials() {
      oauth.revokeAll();
    },
    restoreCredentials() {
      // OAuth tokens stay revoked: a person authorises again (`authorize()`, or POST /_sandbox/accounting/authorizations).
    },
    authorize() {
      return oauth.authorizeAgain();
    },
    deleteInvoice,
    editInvoice,
    seedInvoices,
  };
}

// ------------------------------------------------------------------ values

function optionalString(body: Record<string, unknown>, element: string, maxLength: number): string | undefined {
  const value = body[element];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") {
    throw new QboFault(400, {
      Message: "Request has invalid or unsupported property",
      Detail: `Property Name:${element} must be a string`,
      code: "2010",
      element,
    });
  }
  if (value.length > maxLength) {
    throw new QboFault(400, {
      Message: "String length is either shorter or longer than supported by specification",
      Detail: `String length specified does not match the supported length. Min:0 Max:${maxLength} supported. Supplied length:${value.length}`,
      code: "2050",
      element,
    });
  }
  return value;
}

function optionalDate(body: Record<string, unknown>, element: string): string | undefined {
  const value = optionalString(body, element, 10);
  if (value === undefined) return undefined;
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value) || Number.isNaN(Date.parse(value))) {
    throw new QboFault(400, {
      Message: "Request has invalid or unsupported property",
      Detail: `Property Name:${element} must be a date (YYYY-MM-DD)`,
      code: "2010",
      element,
    });
  }
  return value;
}

function optionalNumber(value: unknown, element: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  const number = typeof value === "number" ? value : typeof value === "string" ? Number(value) : Number.NaN;
  if (!Number.isFinite(number)) {
    throw new QboFault(400, {
      Message: "Request has invalid or unsupported property",
      Detail: `Property Name:${element} must be a number`,
      code: "2010",
      element,
    });
  }
  return number;
}

/** An amount in cents; QBO keeps two decimals. */
function readMoney(value: unknown, element: string): number {
  const number = optionalNumber(value, element);
  if (number === undefined) throw missing(element);
  return Math.round(number * 100);
}

function readCurrency(ref: unknown): string {
  const code = (ref as { value?: unknown } | undefined)?.value;
  if (code === undefined) return "USD";
  if (typeof code !== "string" || !/^[A-Z]{3}$/.test(code)) throw invalidReference("CurrencyRef", String(code));
  return code;
}

function currencyRef(code: string): { value: string; name: string } {
  return { value: code, name: currencyNames[code] ?? code };
}

function metaData(createdAt: number, updatedAt: number): { CreateTime: string; LastUpdatedTime: string } {
  return { CreateTime: localTime(createdAt), LastUpdatedTime: localTime(updatedAt) };
}

/** `2025-05-02T09:14:33-07:00` (with milliseconds for the `time` of an answer), in the company's time zone. */
function localTime(epochMs: number, withMilliseconds = false): string {
  const shifted = new Date(epochMs + companyOffsetMinutes * 60_000).toISOString();
  const sign = companyOffsetMinutes < 0 ? "-" : "+";
  const hours = String(Math.floor(Math.abs(companyOffsetMinutes) / 60)).padStart(2, "0");
  const minutes = String(Math.abs(companyOffsetMinutes) % 60).padStart(2, "0");
  return `${shifted.slice(0, withMilliseconds ? 23 : 19)}${sign}${hours}:${minutes}`;
}

function addDays(date: string, days: number): string {
  return new Date(Date.parse(date) + days * 86_400_000).toISOString().slice(0, 10);
}
