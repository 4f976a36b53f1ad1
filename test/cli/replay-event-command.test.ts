import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { RawWebhookPayload } from "../../src/server/hooks-route.ts";
import type { NewEvent, Storage } from "../../src/storage/contract.ts";
import { type Backend, backends, type TestDatabase, useTestStorage } from "../support/backends.ts";
import { runTenonCli } from "../support/tenon-cli.ts";

// The CLI runs the compiled package; the config must make its integrations with that same copy of Tenon.
const tenonUrl = new URL("../../dist/index.js", import.meta.url).href;

/**
 * The config after the fix: order-sync's concurrency key reads `order.customerId` (the broken one read
 * `customer.id`, which orders do not have), and Stripe is a webhook source whose invoices an integration takes.
 */
const fixedConfig = `
import { defineIntegration } from ${JSON.stringify(tenonUrl)};

export default {
  webhooks: { stripe: { provider: "stripe", secrets: ["whsec_test"] } },
  integrations: [
    defineIntegration({
      id: "order-sync",
      trigger: { event: "order.created", source: "store" },
      concurrency: { key: (event) => event.payload.order.customerId },
      run: async () => {},
    }),
    defineIntegration({ id: "invoice-paid", trigger: { event: "invoice.paid", source: "stripe" }, run: async () => {} }),
  ],
};
`;

const keyThrew =
  "integration \"order-sync\": its concurrency key function threw for this event: Cannot read properties of undefined (reading 'id')";
const stripeEvent = '{"id":"evt_1","type":"invoice.paid","data":{"object":{"id":"in_1","amount_paid":4200}}}';

function raw(body: string): string {
  const payload: RawWebhookPayload = { contentType: "application/json", encoding: "utf8", body };
  return JSON.stringify(payload);
}

describe.each(backends)("tenon replay-event --status quarantined ($name)", (backend: Backend) => {
  const testStorage = useTestStorage(backend);
  let db: TestDatabase;
  let storage: Storage;
  let cwd: string;

  beforeEach(async () => {
    cwd = mkdtempSync(join(tmpdir(), "tenon-replay-event-"));
    writeFileSync(join(cwd, "package.json"), '{ "type": "module" }\n');
    writeFileSync(join(cwd, "tenon.config.ts"), fixedConfig);
    ({ db, storage } = testStorage);
    await storage.migrate();
    const now = Date.now();
    const quarantined = (id: string, fields: Partial<NewEvent>, quarantineReason: string, age: number): NewEvent => ({
      id,
      source: "store",
      type: "order.created",
      dedupKey: id,
      payloadJson: "{}",
      receivedAt: now - age,
      runs: [],
      quarantineReason,
      ...fields,
    });
    await storage.acceptEvents([
      // Quarantined under the broken config; the fixed one reads both orders, but order-b has no customer.
      quarantined("order-a", { payloadJson: '{"order":{"id":1,"customerId":"c1"}}' }, keyThrew, 4000),
      quarantined("order-b", { payloadJson: '{"order":{"id":2}}' }, keyThrew, 3000),
      // Quarantined by an older parser; this one reads it.
      quarantined(
        "stripe-ok",
        { source: "stripe", type: "unparseable", payloadJson: raw(stripeEvent) },
        "Stripe event is not a JSON object",
        2000,
      ),
      // Cut off in transit: no parser reads it.
      quarantined(
        "stripe-cut",
        { source: "stripe", type: "unparseable", payloadJson: raw(stripeEvent.slice(0, 40)) },
        "Stripe event is not valid JSON",
        1000,
      ),
    ]);
  });

  afterEach(async () => {
    rmSync(cwd, { recursive: true, force: true });
  });

  function tenon(args: string[]) {
    return runTenonCli(cwd, args, db.env);
  }

  it("after a config fix, the events it reads start runs; the others stay quarantined with their new reason", async () => {
    const dryRun = await tenon(["replay-event", "--status", "quarantined", "--source", "stripe", "--dry-run"]);
    expect(dryRun.code, dryRun.stderr).toBe(0);
    expect(dryRun.stdout).toContain("dry run: 2 quarantined event(s) would be judged again; nothing was changed.");
    expect((await storage.countEventsByStatus()).quarantined).toBe(4);

    const replay = await tenon(["replay-event", "--status", "quarantined"]);
    expect(replay.code, replay.stderr).toBe(0);
    expect(replay.stdout).toContain("events: replayed 2, still quarantined 2, skipped 0, failed 0");
    expect(replay.stderr).toContain("replaying: 4/4 events");

    expect(await storage.getEvent("order-a")).toMatchObject({ status: "accepted", error: null });
    const [orderRun] = await storage.listRuns({ eventId: "order-a" });
    expect(orderRun).toMatchObject({ integrationId: "order-sync", concurrencyKey: "order-sync:c1", status: "queued" });

    // Parsed again: it takes the type and payload its body holds, and the integration for it runs.
    const stripeOk = await storage.getEvent("stripe-ok");
    expect(stripeOk).toMatchObject({ status: "accepted", type: "invoice.paid", error: null });
    expect(JSON.parse(stripeOk?.payloadJson ?? "null")).toEqual(JSON.parse(stripeEvent));
    expect((await storage.listRuns({ eventId: "stripe-ok" })).map((r) => r.integrationId)).toEqual(["invoice-paid"]);

    const orderB = await storage.getEvent("order-b");
    expect(orderB?.status).toBe("quarantined");
    expect(orderB?.error).toContain(
      "its concurrency key must be a non-empty, well-formed string without NUL, got undefined",
    );
    const stripeCut = await storage.getEvent("stripe-cut");
    expect(stripeCut?.status).toBe("quarantined");
    expect(stripeCut?.error).not.toBe("Stripe event is not valid JSON");
    expect(await storage.listRuns({ eventId: "order-b" })).toEqual([]);

    // Run again: what was accepted is not replayed twice; what stays quarantined is judged again.
    const again = await tenon(["replay-event", "--status", "quarantined"]);
    expect(again.stdout).toContain("events: replayed 0, still quarantined 2, skipped 0, failed 0");
    expect(await storage.listRuns({ eventId: "order-a" })).toHaveLength(1);

    const one = await tenon(["replay-event", "order-b"]);
    expect(one.code, one.stderr).toBe(0);
    expect(one.stdout).toContain(
      'event order-b stays quarantined: integration "order-sync": its concurrency key must be',
    );
  });
});
