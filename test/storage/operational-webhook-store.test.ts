import { beforeEach, describe, expect, it } from "vitest";
import type { NewDriftIncident } from "../../src/storage/drift-store.ts";
import { backends, useTestStorage } from "../support/backends.ts";
import { endRuns } from "../support/ended-runs.ts";

const t0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const start = { at: 0, seq: 0, id: "" };

describe.each(backends)("the operational webhooks store ($name)", (backend) => {
  const t = useTestStorage(backend);
  const store = () => t.storage.operationalWebhooks;

  beforeEach(async () => {
    await t.storage.migrate();
  });

  it("one pump holds the lease at a time; another takes it once it lapses", async () => {
    expect(await store().claimPump("a", t0, t0 + 15_000)).toBe(true);
    expect(await store().claimPump("b", t0 + 1000, t0 + 16_000)).toBe(false);
    expect(await store().claimPump("a", t0 + 1000, t0 + 16_000)).toBe(true);
    expect(await store().claimPump("b", t0 + 16_001, t0 + 31_000)).toBe(true);
    await store().releasePump("b");
    expect(await store().claimPump("a", t0 + 16_002, t0 + 31_000)).toBe(true);
  });

  it("a cursor starts once and moves only from the version it was read at", async () => {
    expect(await store().getCursor("runs")).toBeNull();
    await store().startCursor("runs", { at: t0, seq: 0, id: "" }, t0);
    await store().startCursor("runs", { at: t0 + 5, seq: 0, id: "" }, t0);
    const cursor = await store().getCursor("runs");
    expect(cursor).toEqual({ position: { at: t0, seq: 0, id: "" }, version: 1 });

    expect(await store().moveCursor("runs", 1, { at: t0 + 10, seq: 7, id: "" }, t0)).toBe(true);
    // A second pump that read version 1 too moves nothing.
    expect(await store().moveCursor("runs", 1, { at: t0 + 20, seq: 9, id: "" }, t0)).toBe(false);
    expect(await store().getCursor("runs")).toEqual({ position: { at: t0 + 10, seq: 7, id: "" }, version: 2 });
    expect(await store().getCursor("drift_incidents")).toBeNull();
  });

  it("reads dead and failed runs oldest first, after the cursor and up to the settled time, page by page", async () => {
    await endRuns(t.storage, "billing", "dead", 3, t0);
    await endRuns(t.storage, "billing", "succeeded", 2, t0 + 100);
    await endRuns(t.storage, "crm-sync", "failed", 1, t0 + 200);
    await endRuns(t.storage, "billing", "dead", 1, t0 + 300);

    const first = await store().listEndedRuns(start, t0 + 200, 2);
    expect(first.map((r) => [r.integrationId, r.status, r.finishedAt])).toEqual([
      ["billing", "dead", t0],
      ["billing", "dead", t0],
    ]);
    expect(first[0]).toMatchObject({ lastError: 'step "invoice": 500 from accounting', eventId: expect.any(String) });
    const second = await store().listEndedRuns(first[1]?.position ?? start, t0 + 200, 2);
    expect(second.map((r) => [r.integrationId, r.status, r.finishedAt])).toEqual([
      ["billing", "dead", t0],
      ["crm-sync", "failed", t0 + 200],
    ]);
    // Ended at the same moment, runs are told apart by their order of creation.
    expect(new Set([...first, ...second].map((r) => r.id)).size).toBe(4);
    expect(await store().listEndedRuns(second[1]?.position ?? start, t0 + 200, 2)).toEqual([]);
    expect(await store().listEndedRuns(second[1]?.position ?? start, t0 + 300, 2)).toHaveLength(1);
  });

  it("reads auth incidents of every connection oldest first, and drift incidents by when they were detected", async () => {
    const incident = (
      id: string,
      connectionId: string,
      kind: "auth_failed" | "auth_restored" | "circuit_opened",
      at: number,
    ) => t.storage.connections.recordIncident({ id, connectionId, kind, detail: `${kind} detail`, at });
    await incident("i-3", "crm", "auth_failed", t0 + 10);
    await incident("i-1", "books", "auth_failed", t0);
    await incident("i-2", "crm", "circuit_opened", t0 + 5);
    await incident("i-4", "crm", "auth_restored", t0 + 20);
    const kinds = ["auth_failed", "auth_restored"] as const;
    const firstTwo = await store().listConnectionIncidents(start, t0 + 20, kinds, 2);
    expect(firstTwo.map((i) => i.id)).toEqual(["i-1", "i-3"]);
    expect(firstTwo[0]).toMatchObject({
      connectionId: "books",
      kind: "auth_failed",
      detail: "auth_failed detail",
      at: t0,
    });
    const rest = await store().listConnectionIncidents(firstTwo[1]?.position ?? start, t0 + 20, kinds, 2);
    expect(rest.map((i) => [i.id, i.kind])).toEqual([["i-4", "auth_restored"]]);

    const drift = (id: string, fieldPath: string, at: number): NewDriftIncident => ({
      id,
      shapeId: "shape-1",
      kind: "connection",
      subject: "accounting",
      method: "GET",
      routeTemplate: "/v3/invoice/{id}",
      status: 200,
      eventType: null,
      fieldPath,
      change: "removed",
      breaking: fieldPath === "Invoice.DocNumber",
      example: null,
      seenCount: 3,
      at,
    });
    await t.storage.drift.recordIncidents([
      drift("d-2", "Invoice.Memo", t0 + 50),
      drift("d-1", "Invoice.DocNumber", t0),
    ]);
    const detected = await store().listDriftIncidents(start, t0 + 50, 10);
    expect(detected.map((d) => [d.id, d.fieldPath, d.breaking])).toEqual([
      ["d-1", "Invoice.DocNumber", true],
      ["d-2", "Invoice.Memo", false],
    ]);
    expect(await store().listDriftIncidents(detected[0]?.position ?? start, t0 + 49, 10)).toEqual([]);
  });

  it("counts each dead delivery once, from its first attempt, and forgets failures at the next success", async () => {
    const failure = (createdAt: number, finishedAt: number, seq: number) => ({ createdAt, finishedAt, seq });
    await store().recordDeliveryFailure("ops", failure(t0, t0 + 1000, 1));
    // Read again after a pump's crash: not counted twice.
    await store().recordDeliveryFailure("ops", failure(t0, t0 + 1000, 1));
    await store().recordDeliveryFailure("ops", failure(t0 + 500, t0 + 2000, 2));
    expect(await store().getSubscriberHealth("ops")).toMatchObject({
      consecutiveFailures: 2,
      failingSince: t0,
      lastFailedAt: t0 + 2000,
      disabledAt: null,
    });

    await store().recordDeliverySuccess("ops", t0 + 3000);
    expect(await store().getSubscriberHealth("ops")).toMatchObject({
      consecutiveFailures: 0,
      failingSince: null,
      lastSuccessAt: t0 + 3000,
    });
    // A delivery that died before that success (the pump reads with a delay) is not a failure since it.
    await store().recordDeliveryFailure("ops", failure(t0 + 100, t0 + 2500, 3));
    expect(await store().getSubscriberHealth("ops")).toMatchObject({ consecutiveFailures: 0, failingSince: null });
    // One first tried before the success but dying after it fails since the success, not before.
    await store().recordDeliveryFailure("ops", failure(t0 + 2900, t0 + 4000, 4));
    expect(await store().getSubscriberHealth("ops")).toMatchObject({ consecutiveFailures: 1, failingSince: t0 + 3000 });
  });

  it("disables a subscriber only while it is still failing since the same time; enabling starts afresh", async () => {
    await store().recordDeliveryFailure("ops", { createdAt: t0, finishedAt: t0 + 1000, seq: 1 });
    expect(await store().disableSubscriber("ops", t0 - 1, t0 + 5000, "failing")).toBe(false);
    expect(await store().disableSubscriber("ops", t0, t0 + 5000, "failing for 5 days")).toBe(true);
    expect(await store().disableSubscriber("ops", t0, t0 + 6000, "again")).toBe(false);
    expect(await store().getSubscriberHealth("ops")).toMatchObject({
      disabledAt: t0 + 5000,
      disabledReason: "failing for 5 days",
    });
    await store().addSkipped("ops", 3);
    await store().addSkipped("ops", 2);
    await store().addSkipped("audit", 1);

    const enabled = await store().enableSubscriber("ops", t0 + 7000);
    expect(enabled).toMatchObject({
      name: "ops",
      disabledAt: null,
      disabledReason: null,
      failingSince: null,
      consecutiveFailures: 0,
      enabledAt: t0 + 7000,
      skipped: 5,
    });
    // Deliveries that died before the enable no longer count.
    await store().recordDeliveryFailure("ops", { createdAt: t0 + 10, finishedAt: t0 + 6500, seq: 5 });
    expect(await store().getSubscriberHealth("ops")).toMatchObject({ consecutiveFailures: 0, failingSince: null });
    expect((await store().listSubscriberHealth()).map((h) => [h.name, h.skipped])).toEqual([
      ["audit", 1],
      ["ops", 5],
    ]);
    expect(await store().getSubscriberHealth("nobody")).toBeNull();
  });
});
