import type { Sandbox } from "../sandbox/create-sandbox.ts";
import type { AccountingSystem } from "../sandbox/systems/accounting.ts";
import type { ShopifyOrderJson, Store } from "../sandbox/systems/store.ts";

/**
 * What drifts two systems apart without any integration failing, as the demo acts it out: a person deletes
 * an invoice by hand in accounting, and the store loses an order's webhook. Nothing tells Tenon; the
 * reconciliation (examples/reconciliations.ts) finds the missing invoices and has them made again.
 */

/**
 * A person deletes, in accounting's own UI, the invoice of one of these orders (`S-<number>`, picked at random
 * among those that have one): no webhook, no trace but its absence. Returns its number, or undefined when none
 * of them has an invoice.
 */
export function deleteAnInvoiceByHand(sandbox: Sandbox, orderNumbers: readonly number[]): string | undefined {
  const accounting = sandbox.system<AccountingSystem>("accounting");
  const wanted = new Set(orderNumbers.map((number) => `S-${number}`));
  const candidates = accounting.state().invoices.filter((invoice) => wanted.has(invoice.docNumber));
  const chosen = candidates[Math.floor(Math.random() * candidates.length)];
  if (!chosen) return undefined;
  accounting.deleteInvoice(chosen.id);
  return chosen.docNumber;
}

/**
 * A customer orders, and the store never sends the order's `orders/create` webhook: the `dropWebhooksRate`
 * fault, on for this one order (the store decides as it places it).
 */
export function placeOrderLosingItsWebhook(sandbox: Sandbox): ShopifyOrderJson {
  sandbox.setFaults("store", { dropWebhooksRate: 1 });
  try {
    return sandbox.system<Store>("store").placeOrder();
  } finally {
    sandbox.setFaults("store", { dropWebhooksRate: null });
  }
}
