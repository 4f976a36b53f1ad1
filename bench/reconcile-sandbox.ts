/**
 * The sandbox of `bench/reconcile.ts`, in a process of its own so that the benchmark measures Tenon's memory,
 * not the sandbox's: a store and an accounting system seeded with `BENCH_RECONCILE_RECORDS` orders and their
 * invoices, 1% of them different. Prints one JSON line (where it listens, the credentials, the differences it
 * made), then serves until its stdin closes.
 */
import { createSandbox } from "../src/sandbox/create-sandbox.ts";
import { type AccountingSystem, createAccounting } from "../src/sandbox/systems/accounting.ts";
import { createStore, type SeededOrder, type Store } from "../src/sandbox/systems/store.ts";
import { intEnv } from "./bench-env.ts";

const records = intEnv("BENCH_RECONCILE_RECORDS", 100_000);
const sandbox = createSandbox({
  systems: {
    // No throttling and every order kept: the bench measures Tenon, not the store's plan.
    store: (context) =>
      createStore(context, { bucketSize: 1_000_000, leakRatePerSecond: 1_000_000, maxKeptOrders: records * 2 }),
    accounting: createAccounting,
  },
});
await sandbox.listen({ host: "127.0.0.1", port: 0 });
const store = sandbox.system<Store>("store");
const books = sandbox.system<AccountingSystem>("accounting");
const seeded: SeededOrder[] = [];
store.seedOrders(records, (order) => seeded.push(order));
// Per 1,000 orders: 5 invoices missing, 3 totals changed by a dollar, 2 invoices without an order.
const expected = { missingRight: 0, mismatched: 0, missingLeft: 0 };
books.seedInvoices(
  (function* () {
    for (const [i, order] of seeded.entries()) {
      const r = i % 1000;
      if (r < 5) {
        expected.missingRight += 1;
        continue;
      }
      const changed = r < 8;
      if (changed) expected.mismatched += 1;
      yield {
        docNumber: `S-${order.orderNumber}`,
        email: order.email,
        totalCents: order.totalCents + (changed ? 100 : 0),
      };
      if (r >= 998) {
        expected.missingLeft += 1;
        yield { docNumber: `S-${9_000_000 + i}`, email: order.email, totalCents: 1000 };
      }
    }
  })(),
);
console.log(
  JSON.stringify({
    store: { baseUrl: sandbox.baseUrl("store"), token: store.credentials().token },
    accounting: { baseUrl: sandbox.baseUrl("accounting"), realmId: books.realmId, ...books.credentials() },
    expected,
  }),
);
process.stdin.resume();
process.stdin.on("end", () => void sandbox.close().then(() => process.exit(0)));
