import { type ConnectionClient, type Duration, defineReconciliation, durationToMs, normalizers } from "tenon";
import { shopify } from "tenon/connectors/shopify";

/** An order as listed for reconciliation: the few fields asked for (`fields=`), not the whole order. */
interface ListedOrder {
  id: number;
  name: string;
  order_number: number;
  email: string | null;
  total_price: string;
  created_at: string;
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
 */
export function storeVsAccounting(
  options: { settle?: Duration; schedule?: string; mode?: "auto" | "approve" | "report" } = {},
) {
  const settleMs = durationToMs(options.settle ?? "2m");
  return defineReconciliation<ListedOrder, ListedInvoice>({
    id: "store-vs-accounting",
    ...(options.schedule === undefined ? {} : { schedule: options.schedule }),
    left: {
      async list({ cursor, connection, asOf }) {
        // Shopify's cursor pagination: the next page's URL is in the Link header, with its filters.
        const store = connection("store");
        const page = cursor
          ? await store.get(cursor)
          : await store.get("orders.json", {
              query: { status: "any", limit: 250, fields: "id,name,order_number,email,total_price,created_at" },
            });
        const settledBefore = asOf - settleMs;
        const orders = ((page.body as { orders?: ListedOrder[] }).orders ?? []).filter(
          (order) => Date.parse(order.created_at) <= settledBefore,
        );
        return { records: orders, nextCursor: nextPageUrl(page.headers.link) ?? null };
      },
      show: (order) => ({ id: order.id, name: order.name }),
    },
    right: {
      async list({ cursor, connection, asOf }) {
        const start = Number(cursor ?? 1);
        const page = await connection("accounting").get("/query", {
          query: {
            query: `select * from Invoice orderby Id startposition ${start} maxresults ${invoicePage}`,
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

/** The `rel="next"` URL of a Link header (https://shopify.dev/docs/api/usage/pagination-rest). */
function nextPageUrl(link: string | undefined): string | undefined {
  for (const part of (link ?? "").split(",")) {
    const match = /<([^>]+)>\s*;\s*rel="?next"?/.exec(part.trim());
    if (match) return match[1];
  }
  return undefined;
}
