import { afterEach, describe, expect, it } from "vitest";
import { defineIntegration } from "../../src/sdk/define-integration.ts";
import { defineReconciliation, type RepairPolicy } from "../../src/sdk/define-reconciliation.ts";
import { createServer, type TenonServer } from "../../src/server/create-server.ts";
import { backends, useTestStorage } from "../support/backends.ts";
import { silentLogger } from "../support/engine.ts";
import { pagedList, type ReconcileEngine, startReconcileEngine } from "../support/reconciliation.ts";
import { waitFor } from "../support/wait.ts";

const tokens = { operator: "operator-token-0123456789", viewer: "viewer-token-0123456789" };
const apiTokens = [
  { name: "alice", role: "operator" as const, token: tokens.operator },
  { name: "wallboard", role: "viewer" as const, token: tokens.viewer },
];

describe.each(backends)("the reconciliations API on $name", (backend) => {
  const t = useTestStorage(backend);
  let reconcile: ReconcileEngine | undefined;
  let server: TenonServer | undefined;
  const reinvoiced: string[] = [];

  afterEach(async () => {
    await server?.close();
    await reconcile?.stop();
    reinvoiced.length = 0;
  });

  /** Orders 1–6, invoices for 1–3: three invoices missing, repaired by an event the "reinvoice" integration takes. */
  async function start(mode: RepairPolicy["mode"]) {
    const repair: RepairPolicy = {
      mode,
      missing_right: { emit: (finding) => ({ type: "order.reinvoice", payload: { order: finding.key } }) },
    };
    const reconciliation = defineReconciliation<number, number>({
      id: "orders-vs-invoices",
      left: pagedList(() => [1, 2, 3, 4, 5, 6], 4),
      right: pagedList(() => [1, 2, 3], 4),
      match: { left: (n) => n, right: (n) => n },
      repair,
    });
    const listener = defineIntegration<{ order: string }>({
      id: "reinvoice",
      trigger: { event: "order.reinvoice" },
      run: ({ event }) => {
        reinvoiced.push(event.payload.order);
      },
    });
    reconcile = await startReconcileEngine(t.storage, [reconciliation], { integrations: [listener] });
    server = createServer({ engine: reconcile.engine, logger: silentLogger, apiTokens });
    const url = await server.listen({ host: "127.0.0.1", port: 0 });
    return async (method: string, path: string, token: string, body?: unknown) => {
      const response = await fetch(`${url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await response.text();
      // biome-ignore lint/suspicious/noExplicitAny: tests look into whatever JSON came back
      return { status: response.status, json: (text ? JSON.parse(text) : undefined) as any };
    };
  }

  async function waitForReport(call: Awaited<ReturnType<typeof start>>, number: number) {
    return waitFor(`report ${number} to be complete`, async () => {
      const answer = await call("GET", `/api/reconciliations/orders-vs-invoices/reports/${number}`, tokens.viewer);
      return answer.json?.report?.status === "complete" ? answer.json.report : undefined;
    });
  }

  it("lists reconciliations and their reports to a viewer; only an operator starts a run, and the operator log says who", async () => {
    const call = await start("approve");
    const denied = await call("POST", "/api/reconciliations/orders-vs-invoices/run", tokens.viewer, {});
    expect(denied.status).toBe(403);
    const started = await call("POST", "/api/reconciliations/orders-vs-invoices/run", tokens.operator, {});
    expect(started.status).toBe(202);
    const report = await waitForReport(call, 1);
    expect(report).toMatchObject({
      number: 1,
      runId: started.json.runId,
      dryRun: false,
      pass: "full",
      since: null,
      merge: "spilled",
      mergeNote: null,
    });
    expect(report.counts).toMatchObject({ matched: 3, missingRight: 3, newFindings: 3 });
    expect(report.findings.map((f: { key: string }) => f.key)).toEqual(["4", "5", "6"]);

    const listed = await call("GET", "/api/reconciliations", tokens.viewer);
    expect(listed.json.reconciliations).toEqual([
      expect.objectContaining({
        id: "orders-vs-invoices",
        mode: "approve",
        repairs: ["missing_right"],
        openFindings: 3,
        latestReport: expect.objectContaining({ number: 1, status: "complete" }),
      }),
    ]);
    const log = await t.storage.operatorAccess.listOperatorLog({ limit: 10 });
    expect(log.find((entry) => entry.action.includes("/run"))).toMatchObject({
      actor: "alice",
      detail: "run of reconciliation orders-vs-invoices",
    });

    expect((await call("GET", "/api/reconciliations/orders-vs-bills/reports/1", tokens.viewer)).status).toBe(404);
    const badNumber = await call("GET", "/api/reconciliations/orders-vs-invoices/reports/first", tokens.viewer);
    expect(badNumber).toMatchObject({ status: 400, json: { error: "invalid_report" } });
    const noSuch = await call("POST", "/api/reconciliations/orders-vs-bills/run", tokens.operator, {});
    expect(noSuch).toMatchObject({ status: 404, json: { error: "unknown_reconciliation" } });
    const badBody = await call("POST", "/api/reconciliations/orders-vs-invoices/run", tokens.operator, {
      dryRun: "yes",
    });
    expect(badBody).toMatchObject({ status: 400, json: { error: "invalid_body" } });
    const badFull = await call("POST", "/api/reconciliations/orders-vs-invoices/run", tokens.operator, { full: 1 });
    expect(badFull).toMatchObject({
      status: 400,
      json: { error: "invalid_body", message: "full must be true or false" },
    });
  });

  it("repairs the findings an operator selects, once each however often they are selected", async () => {
    const call = await start("approve");
    await call("POST", "/api/reconciliations/orders-vs-invoices/run", tokens.operator, {});
    await waitForReport(call, 1);
    expect(reinvoiced).toEqual([]); // approve: nothing is repaired without an operator
    const open = await call("GET", "/api/reconciliations/orders-vs-invoices/findings", tokens.viewer);
    const [four, five] = open.json.findings.map((f: { id: string }) => f.id);

    const denied = await call("POST", "/api/reconciliations/orders-vs-invoices/findings/repair", tokens.viewer, {
      findingIds: [four],
    });
    expect(denied.status).toBe(403);
    const repaired = await call("POST", "/api/reconciliations/orders-vs-invoices/findings/repair", tokens.operator, {
      findingIds: [four, five, "no-such-finding"],
    });
    expect(repaired.status).toBe(202);
    expect(repaired.json.repairs).toEqual([
      { findingId: four, status: "requested", runId: expect.any(String) },
      { findingId: five, status: "requested", runId: expect.any(String) },
      {
        findingId: "no-such-finding",
        status: "skipped",
        reason: 'no finding no-such-finding in reconciliation "orders-vs-invoices"',
      },
    ]);
    const again = await call("POST", "/api/reconciliations/orders-vs-invoices/findings/repair", tokens.operator, {
      findingIds: [four],
    });
    expect(again.json.repairs).toEqual([{ findingId: four, status: "already_requested" }]);
    await waitFor("both repairs to be made", () => reinvoiced.length === 2);
    await waitFor("every run to end", async () => (await t.storage.countRunsByStatus()).succeeded === 1 + 2 + 2);
    expect(reinvoiced.sort()).toEqual(["4", "5"]);
    const findings = await call("GET", "/api/reconciliations/orders-vs-invoices/findings", tokens.viewer);
    expect(findings.json.findings.find((f: { id: string }) => f.id === four)).toMatchObject({
      repairRequestedBy: "api:alice",
    });
    const empty = await call("POST", "/api/reconciliations/orders-vs-invoices/findings/repair", tokens.operator, {});
    expect(empty).toMatchObject({ status: 400, json: { error: "invalid_body" } });
  });

  it("refuses to repair from the API when the reconciliation only reports", async () => {
    const call = await start("report");
    await call("POST", "/api/reconciliations/orders-vs-invoices/run", tokens.operator, {});
    await waitForReport(call, 1);
    const open = await call("GET", "/api/reconciliations/orders-vs-invoices/findings", tokens.viewer);
    const refused = await call("POST", "/api/reconciliations/orders-vs-invoices/findings/repair", tokens.operator, {
      findingIds: [open.json.findings[0].id],
    });
    expect(refused).toMatchObject({ status: 409, json: { error: "repair_refused" } });
    expect(refused.json.message).toContain('set repair.mode to "approve"');
  });
});
