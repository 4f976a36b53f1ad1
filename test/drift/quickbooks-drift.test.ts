import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Connections } from "../../src/connections/connections.ts";
import { ResponseShapeError } from "../../src/connectors/define-connector.ts";
import { quickbooks } from "../../src/connectors/quickbooks/index.ts";
import { DriftLearner } from "../../src/drift/drift-learner.ts";
import { createSandbox, type Sandbox } from "../../src/sandbox/create-sandbox.ts";
import { type AccountingSystem, createAccounting } from "../../src/sandbox/systems/accounting.ts";
import { backends, useTestStorage } from "../support/backends.ts";
import { ManualClock } from "../support/clock.ts";
import { testVault } from "../support/connections.ts";
import { silentLogger } from "../support/engine.ts";

describe.each(backends)("API drift of the accounting connector ($name)", (backend) => {
  const t = useTestStorage(backend);
  let sandbox: Sandbox;
  let connections: Connections;
  let learner: DriftLearner;
  let client: ReturnType<typeof quickbooks.client>;
  const clock = new ManualClock();

  beforeEach(async () => {
    await t.storage.migrate();
    sandbox = createSandbox({ systems: { accounting: (context) => createAccounting(context) }, random: () => 0.99 });
    await sandbox.listen();
    const base = sandbox.baseUrl("accounting");
    // Every body is learned (no per-second cap by this clock) and the baseline is set after 5 of them.
    learner = new DriftLearner({
      store: t.storage.drift,
      clock,
      logger: silentLogger,
      maxSamplesPerSecond: 1000,
      thresholds: { minSamples: 5, minWindow: 3 },
    });
    await learner.start();
    connections = new Connections({
      storage: t.storage,
      vault: testVault(),
      logger: silentLogger,
      configs: {
        accounting: {
          ...quickbooks.connection({
            baseUrl: base,
            realmId: sandbox.system<AccountingSystem>("accounting").realmId,
            tokenUrl: `${base}/oauth2/v1/tokens/bearer`,
            authorizationUrl: `${base}/connect/oauth2`,
            credentials: sandbox.credentials("accounting"),
          }),
          rateLimit: "100/s",
        },
      },
      observeResponse: learner.observeResponse,
    });
    client = quickbooks.client(connections.client("accounting"));
  });
  afterEach(async () => {
    await learner.stop();
    await connections.stop();
    await sandbox.close();
  });

  let invoices = 0;
  const createInvoice = (customerId: string) => {
    invoices += 1;
    return client.createInvoice({ docNumber: `SO-${invoices}`, customerId, lines: [{ description: "D", amount: 5 }] });
  };

  it("a renamed DocNumber is one breaking incident naming Invoice.DocNumber, the new name one non-breaking; accepting clears them", async () => {
    const { id: customerId } = await client.findOrCreateCustomer({ displayName: "Ada" });
    for (let i = 0; i < 6; i++) await createInvoice(customerId);
    await learner.persist();
    expect(await t.storage.drift.listIncidents()).toEqual([]);

    sandbox.setFaults("accounting", { schemaChange: { field: "DocNumber", action: "rename", to: "InvoiceNumber" } });
    for (let i = 0; i < 8; i++) await expect(createInvoice(customerId)).rejects.toThrow(ResponseShapeError);
    await learner.persist();

    const breaking = await t.storage.drift.listIncidents({ open: true, breaking: true });
    expect(breaking).toHaveLength(1);
    expect(breaking[0]).toMatchObject({
      kind: "connection",
      subject: "accounting",
      method: "POST",
      routeTemplate: "/invoice",
      status: 200,
      eventType: null,
      fieldPath: "Invoice.DocNumber",
      change: "removed",
      breaking: true,
      example: null,
      acceptedAt: null,
    });
    // Judged once 3 bodies in a row came without it: every later one is a sighting of the same incident.
    expect(breaking[0]?.seenCount).toBe(6);
    const nonBreaking = await t.storage.drift.listIncidents({ open: true, breaking: false });
    expect(nonBreaking).toMatchObject([
      {
        fieldPath: "Invoice.InvoiceNumber",
        change: "added",
        breaking: false,
        example: expect.stringMatching(/^string \(\d+ chars\)$/),
        seenCount: 8,
      },
    ]);

    const accepted = await t.storage.drift.acceptShape({
      incidentId: breaking[0]?.id as string,
      acceptedBy: "ada@example.com",
      at: clock.now(),
    });
    expect(accepted).toEqual({ shapeId: breaking[0]?.shapeId, accepted: 2 });
    expect(await t.storage.drift.listIncidents({ open: true })).toEqual([]);
    expect(await t.storage.drift.getIncident(breaking[0]?.id as string)).toMatchObject({
      acceptedBy: "ada@example.com",
      acceptedAt: clock.now(),
    });

    // The learner takes up the acceptance at its next write, and learns the renamed shape as the baseline.
    await learner.persist();
    for (let i = 0; i < 10; i++) await expect(createInvoice(customerId)).rejects.toThrow(ResponseShapeError);
    await learner.persist();
    expect(await t.storage.drift.listIncidents({ open: true })).toEqual([]);
  });
});
