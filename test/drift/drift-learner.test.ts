import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { checkAnswer, parseEventPayload } from "../../src/connectors/define-connector.ts";
import { DriftLearner } from "../../src/drift/drift-learner.ts";
import { runInRun } from "../../src/runtime/run-scope.ts";
import { driftCursorOf } from "../../src/storage/drift-store.ts";
import { backends, useTestStorage } from "../support/backends.ts";
import { ManualClock } from "../support/clock.ts";
import { databaseContents } from "../support/database-contents.ts";
import { silentLogger } from "../support/engine.ts";
import { waitFor } from "../support/wait.ts";

const secret = "sk_live_51Hx9QeLsecretVALUE0123456789";

describe.each(backends)("the drift learner ($name)", (backend) => {
  const t = useTestStorage(backend);
  const clock = new ManualClock();
  let learner: DriftLearner;

  beforeEach(async () => {
    await t.storage.migrate();
    learner = new DriftLearner({
      store: t.storage.drift,
      clock,
      logger: silentLogger,
      maxSamplesPerSecond: 1000,
      thresholds: { minSamples: 20, minWindow: 5, presenceWindow: 20 },
    });
    await learner.start();
  });
  afterEach(async () => {
    await learner.stop();
  });

  const answer = (body: unknown) => learner.observeResponse("crm", "GET", undefined, "/v3/contacts/1001", 200, body);
  const contact = (overrides: Record<string, unknown> = {}) => ({
    id: 1001,
    email: "ada@example.com",
    phone: "+44 20 7946 0000",
    properties: { firstname: "Ada", token: "tok_1" },
    ...overrides,
  });

  it("finds a type change, a field that became nullable and a presence drop, once each, with type-only examples", async () => {
    for (let i = 0; i < 20; i++) answer(contact());
    // 60% of the answers have a phone (it was in every one), the id is now a string, and the token became a secret-looking null-or-string.
    for (let i = 0; i < 20; i++) {
      const phone = i % 5 < 3 ? {} : { phone: undefined };
      answer(contact({ id: secret, ...phone }));
      answer(contact({ properties: { firstname: "Ada", token: i % 2 === 0 ? null : secret }, ...phone }));
    }
    await learner.persist();

    const incidents = await t.storage.drift.listIncidents({ open: true });
    const byField = Object.fromEntries(incidents.map((i) => [`${i.fieldPath} ${i.change}`, i]));
    expect(Object.keys(byField).sort()).toEqual([
      "id type_changed",
      "phone presence_dropped",
      "properties.token became_nullable",
    ]);
    expect(byField["id type_changed"]).toMatchObject({
      subject: "crm",
      method: "GET",
      routeTemplate: "/v3/contacts/{id}",
      example: `string (${secret.length} chars)`,
      seenCount: 20,
      breaking: false,
    });
    expect(byField["properties.token became_nullable"]).toMatchObject({ example: "null", seenCount: 10 });
    expect(byField["phone presence_dropped"]?.example).toBeNull();
    // No value, only types: the secret is neither in an incident nor in a stored shape, nor anywhere in the database.
    expect(JSON.stringify(incidents)).not.toContain(secret);
    expect(JSON.stringify(await t.storage.drift.loadShapes())).not.toContain(secret);
    expect(await databaseContents(backend.name, t.db.env)).not.toContain(secret);
  });

  it("a removed object is one incident, not one per field it held; ids in paths make one route", async () => {
    for (let i = 0; i < 20; i++) learner.observeResponse("crm", "GET", undefined, `/v3/contacts/${i}`, 200, contact());
    for (let i = 0; i < 8; i++) answer(contact({ properties: undefined }));
    await learner.persist();
    expect(await t.storage.drift.listIncidents()).toMatchObject([
      { fieldPath: "properties", change: "removed", routeTemplate: "/v3/contacts/{id}", seenCount: 4 },
    ]);
  });

  it("drift in a field an integration's payload schema requires is breaking; in one it does not read, not", async () => {
    const orderSchema = z.object({ id: z.number(), email: z.string(), note: z.string().optional() });
    const order = (overrides: Record<string, unknown> = {}) => ({
      id: 1,
      email: "a@example.com",
      note: "n",
      ...overrides,
    });
    for (let i = 0; i < 20; i++) learner.observeEvent("shop", "orders/create", order());
    // What a run does with its event: checks the payload against the integration's schema.
    runInRun({ runId: "r1", integrationId: "orders", event: { source: "shop", type: "orders/create" } }, () =>
      parseEventPayload(orderSchema, order(), "order"),
    );
    for (let i = 0; i < 6; i++) learner.observeEvent("shop", "orders/create", order({ email: null, note: 7 }));
    await learner.persist();

    expect(await t.storage.drift.listIncidents({ breaking: true })).toMatchObject([
      { kind: "webhook", subject: "shop", eventType: "orders/create", fieldPath: "email", change: "became_nullable" },
    ]);
    expect(await t.storage.drift.listIncidents({ breaking: false })).toMatchObject([
      { fieldPath: "note", change: "type_changed", example: "number", method: null, routeTemplate: null },
    ]);
  });

  it("learns at most the configured number of bodies per shape and second, and writes nothing per body", async () => {
    const capped = new DriftLearner({ store: t.storage.drift, clock, logger: silentLogger, maxSamplesPerSecond: 10 });
    await capped.start();
    for (let i = 0; i < 100; i++) capped.observeResponse("crm", "GET", undefined, "/v3/contacts", 200, contact());
    clock.advance(1000);
    for (let i = 0; i < 100; i++) capped.observeResponse("crm", "GET", undefined, "/v3/contacts", 200, contact());
    // Both seconds' 10 bodies make the baseline (20, the default): a new field after that is seen.
    clock.advance(1000);
    capped.observeResponse("crm", "GET", undefined, "/v3/contacts", 200, contact({ extra: true }));
    expect(await t.storage.drift.loadShapes()).toEqual([]);
    await capped.stop();
    const [shape] = await t.storage.drift.loadShapes();
    expect(shape?.baseline?.samples).toBe(20);
    expect(await t.storage.drift.listIncidents()).toMatchObject([
      { fieldPath: "extra", change: "added", seenCount: 1 },
    ]);
  });

  it("writes breaking drift within one persistence period, with no flush asked for", async () => {
    const periodic = new DriftLearner({
      store: t.storage.drift,
      clock,
      logger: silentLogger,
      maxSamplesPerSecond: 1000,
      persistIntervalMs: 20,
      thresholds: { minSamples: 5 },
    });
    await periodic.start();
    try {
      const contacts = z.looseObject({ id: z.number() });
      for (let i = 0; i < 5; i++) {
        const body = contact();
        periodic.observeResponse("crm", "GET", "/v3/contacts/{id}", "/v3/contacts/1", 200, body);
        checkAnswer(contacts, body, "crm.getContact");
      }
      periodic.observeResponse("crm", "GET", "/v3/contacts/{id}", "/v3/contacts/1", 200, contact({ id: "1001" }));
      const incident = await waitFor(
        "the incident to be written",
        async () => (await t.storage.drift.listIncidents({ open: true, breaking: true }))[0],
      );
      expect(incident).toMatchObject({ fieldPath: "id", change: "type_changed", routeTemplate: "/v3/contacts/{id}" });
    } finally {
      await periodic.stop();
    }
  });

  it("keeps what a failed write held for the next period: a change seen once is not lost", async () => {
    let failures = 1;
    const store = t.storage.drift;
    const flaky = new DriftLearner({
      store: {
        loadShapes: () => store.loadShapes(),
        saveShapes: (shapes) => store.saveShapes(shapes),
        getIncident: (id) => store.getIncident(id),
        listIncidents: (filter) => store.listIncidents(filter),
        acceptShape: (input) => store.acceptShape(input),
        recordIncidents: async (incidents) => {
          if (failures-- > 0) throw new Error("the database is away");
          await store.recordIncidents(incidents);
        },
      },
      clock,
      logger: silentLogger,
      maxSamplesPerSecond: 1000,
      thresholds: { minSamples: 5 },
    });
    await flaky.start();
    for (let i = 0; i < 5; i++) flaky.observeResponse("crm", "GET", undefined, "/v3/contacts", 200, contact());
    flaky.observeResponse("crm", "GET", undefined, "/v3/contacts", 200, contact({ once: "x" }));
    await flaky.persist();
    expect(await store.listIncidents()).toEqual([]);
    await flaky.stop();
    expect(await store.listIncidents()).toMatchObject([{ fieldPath: "once", change: "added", seenCount: 1 }]);
  });

  it("pages incidents newest first with a cursor", async () => {
    for (let i = 0; i < 20; i++) answer(contact());
    for (const field of ["a", "b", "c"]) {
      clock.advance(1000);
      answer(contact({ [field]: 1 }));
      await learner.persist();
    }
    const first = await t.storage.drift.listIncidents({ limit: 2 });
    expect(first.map((i) => i.fieldPath)).toEqual(["c", "b"]);
    const next = await t.storage.drift.listIncidents({
      limit: 2,
      cursor: driftCursorOf(first[1] as (typeof first)[0]),
    });
    expect(next.map((i) => i.fieldPath)).toEqual(["a"]);
  });
});
