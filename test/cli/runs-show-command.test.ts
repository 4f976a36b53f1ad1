import { mkdtempSync, rmSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Connections } from "../../src/connections/connections.ts";
import type { Engine } from "../../src/engine/engine.ts";
import { defineIntegration } from "../../src/sdk/define-integration.ts";
import type { Storage } from "../../src/storage/contract.ts";
import { type Backend, backends, type TestDatabase, useTestStorage } from "../support/backends.ts";
import { testConnections } from "../support/connections.ts";
import { testEngine, waitForRunStatus } from "../support/engine.ts";
import { LoopbackServer } from "../support/loopback-server.ts";
import { runTenonCli } from "../support/tenon-cli.ts";

/** The accounting API: refuses the first two invoices with a 503, accepts the third. */
class LedgerApi extends LoopbackServer {
  requests = 0;

  protected async answer(request: IncomingMessage, response: ServerResponse): Promise<void> {
    for await (const _ of request) {
      // drain the body
    }
    this.requests += 1;
    const ok = this.requests > 2;
    response.writeHead(ok ? 201 : 503, { "content-type": "application/json" });
    response.end(JSON.stringify(ok ? { id: "inv_77" } : { error: "ledger is rebuilding its indexes" }));
  }
}

/** A long error on many lines, as a provider's validation report often is; each attempt's is its own. */
function ledgerReport(attempt: number): string {
  const lines = Array.from(
    { length: 40 },
    (_, line) =>
      `attempt ${attempt}, line ${line + 1}: ledger partition ${line} is read-only while its index is rebuilt`,
  );
  return [`the ledger refused invoice for order 1001 on attempt ${attempt}:`, ...lines].join("\n");
}

describe.each(backends)("tenon runs show ($name)", (backend: Backend) => {
  const testStorage = useTestStorage(backend);
  let db: TestDatabase;
  let storage: Storage;
  let ledger: LedgerApi;
  let connections: Connections;
  let engine: Engine;
  let cwd: string;

  beforeEach(async () => {
    cwd = mkdtempSync(join(tmpdir(), "tenon-runs-show-"));
    ({ db, storage } = testStorage);
    await storage.migrate();
    ledger = new LedgerApi();
    await ledger.start();
    connections = testConnections(storage, { ledger: { baseUrl: ledger.origin, circuit: false } });
    const invoicing = defineIntegration<{ orderId: number }>({
      id: "invoicing",
      trigger: { event: "order.created", source: "shop" },
      retries: { maxAttempts: 5, initialDelay: "20ms", maxDelay: "50ms" },
      run: async ({ event, step, connection }) =>
        step.run("create invoice", async ({ attempt }) => {
          try {
            const { body } = await connection("ledger").request({
              method: "POST",
              path: "/invoices",
              json: { orderId: event.payload.orderId, amount: 4200 },
            });
            return body;
          } catch (error) {
            throw new Error(`${ledgerReport(attempt)}\ncaused by: ${(error as Error).message}`);
          }
        }),
    });
    engine = testEngine({ storage, integrations: [invoicing], connections });
    await engine.start();
  });

  afterEach(async () => {
    await engine.stop();
    await ledger.close();
    rmSync(cwd, { recursive: true, force: true });
  });

  function tenon(args: string[]) {
    return runTenonCli(cwd, args, db.env);
  }

  async function succeededRun(): Promise<string> {
    const { runIds } = await engine.send({
      source: "shop",
      type: "order.created",
      id: "ord_1001",
      payload: { orderId: 1001 },
    });
    const runId = runIds[0] as string;
    await waitForRunStatus(storage, runId, "succeeded");
    await connections.stop(); // flushes the audit trail
    return runId;
  }

  it("a run that failed twice then succeeded shows both errors in full, its exchanges, and no stale error", async () => {
    const runId = await succeededRun();

    const shown = await tenon(["runs", "show", runId]);
    expect(shown.code, shown.stderr).toBe(0);
    const text = shown.stdout;
    expect(text).toMatch(/event received: shop order\.created \(provider id ord_1001\)/);
    expect(text).toMatch(/step "create invoice" attempt 1 failed after \d+ ms, will retry/);
    expect(text).toMatch(/step "create invoice" attempt 2 failed after \d+ ms, will retry/);
    expect(text).toMatch(/step "create invoice" attempt 3 succeeded after \d+ ms/);
    expect(text).toContain(`idempotency key ${runId}:create invoice`);
    // Every line of both errors, the last ones included: nothing is cut.
    for (const attempt of [1, 2]) {
      expect(text).toContain(`attempt ${attempt}, line 1: ledger partition 0`);
      expect(text).toContain(`attempt ${attempt}, line 40: ledger partition 39`);
    }
    expect(text).toContain("caused by: POST");
    // The three exchanges, from the audit trail, with their bodies.
    const exchanges = text.split("\n").filter((line) => line.includes(`→ ledger: POST ${ledger.origin}/invoices`));
    expect(exchanges).toHaveLength(3);
    expect(exchanges.map((line) => line.match(/ {2}(\d{3}) {2}/)?.[1])).toEqual(["503", "503", "201"]);
    // JSON bodies pretty-printed, one key a line, their indentation kept under the timeline's margin.
    expect(text).toMatch(/request:\n +\{\n +"orderId": 1001,\n +"amount": 4200\n +\}/);
    expect(text).toMatch(/response:\n +\{\n +"id": "inv_77"\n +\}/);
    expect(text).toMatch(/run succeeded/);
    expect(text).not.toContain("last error");

    // The list shows no stale error for it either.
    const listed = await tenon(["runs", "--json"]);
    expect(JSON.parse(listed.stdout)).toMatchObject([{ id: runId, status: "succeeded", failures: 2, lastError: null }]);
  });

  it("--json round-trips each attempt's full error, a long multi-line text", async () => {
    const runId = await succeededRun();
    const shown = await tenon(["runs", "show", runId, "--json"]);
    expect(shown.code, shown.stderr).toBe(0);
    const timeline = JSON.parse(shown.stdout);
    expect(timeline.run).toMatchObject({ id: runId, status: "succeeded", lastError: null });
    expect(timeline.event).toMatchObject({ source: "shop", type: "order.created", providerId: "ord_1001" });
    const [step] = timeline.steps;
    expect(step.idempotencyKey).toBe(`${runId}:create invoice`);
    expect(step.attempts.map((a: { attempt: number; outcome: string }) => [a.attempt, a.outcome])).toEqual([
      [1, "failed"],
      [2, "failed"],
      [3, "succeeded"],
    ]);
    expect(step.attempts[0].error).toContain(ledgerReport(1));
    expect(step.attempts[1].error).toContain(ledgerReport(2));
    expect(step.attempts[2]).toMatchObject({ error: null, durationMs: expect.any(Number) });
    expect(timeline.exchanges.map((e: { status: number }) => e.status)).toEqual([503, 503, 201]);
    expect(timeline.exchanges[2]).toMatchObject({
      method: "POST",
      stepName: "create invoice",
      responseBody: '{"id":"inv_77"}',
    });
  });

  it("an unknown run id fails with a message that says where to look", async () => {
    const shown = await tenon(["runs", "show", "no-such-run"]);
    expect(shown.code).toBe(1);
    expect(shown.stderr).toContain('no run "no-such-run" is stored');
  });
});
