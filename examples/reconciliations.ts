import { type ConnectionClient, type Duration, defineReconciliation, durationToMs, normalizers } from "tenon";
import { shopify } from "tenon/connectors/shopify";
import { stripe } from "tenon/connectors/stripe";

/** An order as listed for reconciliation: the few fields asked for (`fields=`), not the whole order. */
interface ListedOrder {
  id: number;
  name: string;
  order_number: number;
  email: string | null;
  total_price: string;
  created_at: string;
  updated_at: string;
}

/** An invoice as QuickBooks' query answers it, the fields compared and shown. */
interface ListedInvoice {
  Id: string;
  DocNumber?: string;
  TotalAmt: number;
  BillEmail?: { Address?: string };
}

/** QuickBooks answers at most 1,000 rows per query. */
const invoicePage = 1000;

/**
 * Every store order has exactly one invoice `S-<order number>` in accounting, with the same total (tax
 * included) and the customer's email. A missing invoice (deleted by hand, or never made because the store lost
 * the order's webhook) is repaired at once by emitting the order's `orders/create` event again: order-to-cash
 * makes the invoice with its usual check-then-act by number, so it is never made twice. A total that differs is
 * reported, not repaired: someone must look at it.
 *
 * `mode`: "auto" (default) repairs at once; "approve" waits for an operator; "report" repairs nothing.
 * `settle`: orders younger than this when the run began are left out, and their invoices with them, so an order
 * whose invoice order-to-cash is still making is not reported (nor repaired) as missing, nor its fresh invoice as
 * one without an order. Default 2 minutes.
 * `incremental`: `{ fullEvery: "24h" }` lists only the orders and invoices changed since the last run (Shopify's
 * `updated_at_min`, QuickBooks' `Metadata.LastUpdatedTime`), with a full pass that often; off by default.
 */
export function storeVsAccounting(
  options: {
    settle?: Duration;
    schedule?: string;
    mode?: "auto" | "approve" | "report";
    incremental?: { fullEvery: Duration };
  } = {},
) {
  const settleMs = durationToMs(options.settle ?? "2m");
  return defineReconciliation<ListedOrder, ListedInvoice>({
    id: "store-vs-accounting",
    ...(options.schedule === undefined ? {} : { schedule: options.schedule }),
    ...(options.incremental === undefined ? {} : { incremental: options.incremental }),
    left: {
      async list({ cursor, since, connection, asOf }) {
        // Shopify's cursor pagination: the next page's URL is in the Link header, with its filters.
        const store = connection("store");
        const fields = "id,name,order_number,email,total_price,created_at,updated_at";
        // An order too young at the last run was left out then: going back by `settle` lists it now.
        const changedSince =
          since === null ? {} : { updated_at_min: new Date(since.getTime() - settleMs).toISOString() };
        const page = cursor
          ? await store.get(cursor)
          : await store.get("orders.json", { query: { status: "any", limit: 250, fields, ...changedSince } });
        const settledBefore = asOf - settleMs;
        const orders = ((page.body as { orders?: ListedOrder[] }).orders ?? []).filter(
          (order) => Date.parse(order.created_at) <= settledBefore,
        );
        return { records: orders, nextCursor: nextPageUrl(page.headers.link) ?? null };
      },
      show: (order) => ({ id: order.id, name: order.name }),
      id: (order) => order.id,
    },
    right: {
      async list({ cursor, since, connection, asOf }) {
        const start = Number(cursor ?? 1);
        const changedSince = since === null ? "" : ` where Metadata.LastUpdatedTime >= '${qboDateTime(since)}'`;
        const page = await connection("accounting").get("/query", {
          query: {
            query: `select * from Invoice${changedSince} orderby Id startposition ${start} maxresults ${invoicePage}`,
            minorversion: "75",
          },
        });
        const invoices = (page.body as { QueryResponse?: { Invoice?: ListedInvoice[] } }).QueryResponse?.Invoice ?? [];
        // The invoices of the orders the store's side leaves out: else each would be reported as having no order.
        const young = await ordersCreatedAfter(connection("store"), asOf - settleMs);
        return {
          records: invoices.filter((invoice) => !young.has(orderNumberOf(invoice) ?? "")),
          nextCursor: invoices.length < invoicePage ? null : String(start + invoicePage),
        };
      },
      show: (invoice) => ({ id: invoice.Id, docNumber: invoice.DocNumber }),
      id: (invoice) => invoice.Id,
    },
    match: {
      left: (order) => String(order.order_number),
      // Invoices of other flows (appointments) have other numbers: left out.
      right: orderNumberOf,
    },
    compare: {
      total: {
        left: (order) => order.total_price,
        right: (invoice) => invoice.TotalAmt,
        normalize: normalizers.money({ currency: "USD" }),
      },
      email: {
        left: (order) => order.email,
        right: (invoice) => invoice.BillEmail?.Address,
        normalize: [normalizers.whitespace(), normalizers.caseInsensitive()],
      },
    },
    repair: {
      mode: options.mode ?? "auto",
      missing_right: {
        // The whole order, as its webhook carried it: order-to-cash takes it like any other.
        async emit(finding, { connection }) {
          const id = Number(finding.left?.records[0]?.shown.id);
          const order = await shopify.client(connection("store")).getOrder({ id });
          return { source: "store", type: "orders/create", payload: order };
        },
      },
    },
  });
}

/** The order number an invoice `S-<number>` was made for; null for the invoices of other flows. */
function orderNumberOf(invoice: ListedInvoice): string | null {
  return invoice.DocNumber?.startsWith("S-") ? invoice.DocNumber.slice(2) : null;
}

/**
 * The numbers of the store's orders created after `settledBefore`, as the store's side judges it (its
 * `created_at`, to the second): asked from a second before, then read exactly.
 */
async function ordersCreatedAfter(store: ConnectionClient, settledBefore: number): Promise<Set<string>> {
  const numbers = new Set<string>();
  let next: string | undefined;
  do {
    const page = next
      ? await store.get(next)
      : await store.get("orders.json", {
          query: {
            status: "any",
            limit: 250,
            created_at_min: new Date(settledBefore - 1000).toISOString(),
            fields: "order_number,created_at",
          },
        });
    for (const order of (page.body as { orders?: ListedOrder[] }).orders ?? []) {
      if (Date.parse(order.created_at) > settledBefore) numbers.add(String(order.order_number));
    }
    next = nextPageUrl(page.headers.link);
  } while (next);
  return numbers;
}

/** A PaymentIntent as Stripe lists it: the fields compared and shown. */
interface ListedIntent {
  id: string;
  status: string;
  /** In the currency's smallest unit. */
  amount: number;
  metadata: Record<string, string>;
}

/** A QuickBooks payment, with the numbers of the invoices it is applied to (looked up by their ids). */
interface ListedPayment {
  Id: string;
  TotalAmt: number;
  PaymentRefNum?: string;
  PrivateNote?: string;
  Line?: { Amount: number; LinkedTxn?: { TxnId: string; TxnType: string }[] }[];
  invoiceNumbers: string[];
}

/** Stripe lists at most 100 objects a page. */
const intentPage = 100;
/** Payments per query: their invoices are then looked up in one `Id IN (…)` query. */
const paymentPage = 200;

/**
 * Every succeeded payment intent has a QuickBooks payment of the same amount against its invoice (the one its
 * `metadata.invoice_number` names), as payment-reconciled records it. The payment carries the intent's id as its
 * reference: in `PaymentRefNum` when it fits (21 characters), else in `PrivateNote` ("Reference: pi_…"), as the
 * QuickBooks connector stores it. A missing payment is repaired by emitting the intent's
 * `payment_intent.succeeded` again (payment-reconciled records it, looking first by reference: never twice); a
 * payment whose amount or invoice differs is reported. Payments from elsewhere (cheques) carry no intent: left out.
 *
 * `mode`: "auto" (default) repairs at once; "approve" waits for an operator; "report" repairs nothing.
 */
export function paymentsVsAccounting(options: { schedule?: string; mode?: "auto" | "approve" | "report" } = {}) {
  return defineReconciliation<ListedIntent, ListedPayment>({
    id: "payments-vs-accounting",
    ...(options.schedule === undefined ? {} : { schedule: options.schedule }),
    left: {
      async list({ cursor, connection }) {
        // Stripe lists newest first; the next page starts after the last id of this one.
        const page = await connection("payments").get("/v1/payment_intents", {
          query: { limit: intentPage, ...(cursor === null ? {} : { starting_after: cursor }) },
        });
        const { data, has_more } = page.body as { data: ListedIntent[]; has_more: boolean };
        const last = data.at(-1);
        return {
          records: data.filter((intent) => intent.status === "succeeded"),
          nextCursor: has_more && last ? last.id : null,
        };
      },
      show: (intent) => ({ id: intent.id, invoice: intent.metadata.invoice_number ?? null }),
    },
    right: {
      async list({ cursor, connection }) {
        const books = connection("accounting");
        const start = Number(cursor ?? 1);
        const page = await books.get("/query", {
          query: {
            query: `select * from Payment orderby Id startposition ${start} maxresults ${paymentPage}`,
            minorversion: "75",
          },
        });
        const payments =
          (page.body as { QueryResponse?: { Payment?: Omit<ListedPayment, "invoiceNumbers">[] } }).QueryResponse
            ?.Payment ?? [];
        const numbers = await invoiceNumbers(books, payments.flatMap(appliedInvoiceIds));
        return {
          records: payments.map((payment) => ({
            ...payment,
            invoiceNumbers: appliedInvoiceIds(payment).map((id) => numbers.get(id) ?? `(invoice ${id})`),
          })),
          nextCursor: payments.length < paymentPage ? null : String(start + paymentPage),
        };
      },
      show: (payment) => ({ id: payment.Id }),
    },
    match: {
      left: (intent) => intent.id,
      right: (payment) => {
        const reference = /^Reference: (\S+)$/.exec(payment.PrivateNote ?? "")?.[1] ?? payment.PaymentRefNum;
        return reference?.startsWith("pi_") ? reference : null;
      },
    },
    compare: {
      amount: {
        left: (intent) => intent.amount / 100,
        right: (payment) => payment.TotalAmt,
        normalize: normalizers.money({ currency: "USD" }),
      },
      invoice: {
        left: (intent) => intent.metadata.invoice_number ?? null,
        right: (payment) => payment.invoiceNumbers.join(", ") || null,
      },
    },
    repair: {
      mode: options.mode ?? "auto",
      missing_right: {
        // The event Stripe sent (or should have): payment-reconciled takes it like any other.
        async emit(finding, { connection }) {
          const intent = await stripe.client(connection("payments")).retrievePaymentIntent({ id: finding.key });
          return {
            source: "payments",
            type: "payment_intent.succeeded",
            payload: {
              id: `evt_reconcile_${finding.id}`,
              object: "event",
              type: "payment_intent.succeeded",
              api_version: null,
              created: intent.created,
              livemode: intent.livemode,
              pending_webhooks: 0,
              request: null,
              data: { object: intent },
            },
          };
        },
      },
    },
  });
}

function appliedInvoiceIds(payment: Pick<ListedPayment, "Line">): string[] {
  return (payment.Line ?? []).flatMap((line) =>
    (line.LinkedTxn ?? []).filter((txn) => txn.TxnType === "Invoice").map((txn) => txn.TxnId),
  );
}

/** The DocNumbers of these invoices, by id, a query per 1,000 (a deleted invoice is simply not there). */
async function invoiceNumbers(books: ConnectionClient, ids: string[]): Promise<Map<string, string>> {
  const unique = [...new Set(ids)];
  const numbers = new Map<string, string>();
  for (let start = 0; start < unique.length; start += invoicePage) {
    const list = unique.slice(start, start + invoicePage).map((id) => `'${id}'`);
    const page = await books.get("/query", {
      query: {
        query: `select * from Invoice where Id in (${list.join(", ")}) maxresults ${invoicePage}`,
        minorversion: "75",
      },
    });
    const invoices = (page.body as { QueryResponse?: { Invoice?: ListedInvoice[] } }).QueryResponse?.Invoice ?? [];
    for (const invoice of invoices) numbers.set(invoice.Id, invoice.DocNumber ?? "");
  }
  return numbers;
}

/** A date-time as QuickBooks' queries take it (seconds, with an offset), rounded down. */
function qboDateTime(at: Date): string {
  return `${at.toISOString().slice(0, 19)}+00:00`;
}

/** The `rel="next"` URL of a Link header (https://shopify.dev/docs/api/usage/pagination-rest). */
function nextPageUrl(link: string | undefined): string | undefined {
  for (const part of (link ?? "").split(",")) {
    const match = /<([^>]+)>\s*;\s*rel="?next"?/.exec(part.trim());
    if (match) return match[1];
  }
  return undefined;
}
