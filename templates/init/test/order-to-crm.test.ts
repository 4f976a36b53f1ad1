import assert from "node:assert/strict";
import { test } from "node:test";
import { startTestHarness } from "tenon/testing";

// Each test gets a fresh sandbox and Tenon, with tenon.config.ts evaluated against them. Offline; nothing on disk.
const config = new URL("../tenon.config.ts", import.meta.url);

test("a new store order becomes a CRM contact with a note", async (t) => {
  const tenon = await startTestHarness({ config });
  t.after(() => tenon.stop());

  // A customer checks out: the store sends its signed orders/create webhook to Tenon.
  const order = tenon.sandbox.store.placeOrder({ email: "ada@example.com", firstName: "Ada", lastName: "Lovelace" });

  const run = await tenon.waitForRun({ integration: "order-to-crm" });
  assert.equal(run.status, "succeeded", run.lastError ?? undefined);
  const crm = tenon.sandbox.crm.state();
  const contact = crm.contacts["ada@example.com"];
  assert.equal(contact?.properties.firstname, "Ada");
  assert.deepEqual(
    crm.notes.map((note) => note.properties.hs_note_body),
    [`Order ${order.name}: ${order.total_price} ${order.currency}`],
  );
});

test("a CRM outage delays the contact; it does not lose it or add a second note", async (t) => {
  const tenon = await startTestHarness({ config });
  t.after(() => tenon.stop());
  // For two seconds the CRM answers every request with a 503.
  tenon.sandbox.setFaults("crm", { outageUntil: Date.now() + 2_000 });

  tenon.sandbox.store.placeOrder({ email: "grace@example.com" });

  const run = await tenon.waitForRun({ integration: "order-to-crm", timeoutMs: 20_000 });
  assert.equal(run.status, "succeeded", run.lastError ?? undefined);
  const crm = tenon.sandbox.crm.state();
  assert.ok(crm.contacts["grace@example.com"]);
  assert.equal(crm.notes.length, 1);
});
