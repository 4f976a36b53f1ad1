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
import { testEngine } from "../support/engine.ts";
import { LoopbackServer } from "../support/loopback-server.ts";
import { runTenonCli, startTenonCli } from "../support/tenon-cli.ts";
import { waitFor } from "../support/wait.ts";

const runCount = 1000;

/** The warehouse: down (500) until fixed; then it records each shipment it accepts, by idempotency key. */
class WarehouseApi extends LoopbackServer {
  broken = true;
  readonly shipped = new Map<string, number>();

  protected async answer(request: IncomingMessage, response: ServerResponse): Promise<void> {
    for await (const _ of request) {
      // drain the body
    }
    if (this.broken) {
      response.writeHead(500).end("warehouse database is down");
      return;
    }
    const key = String(request.headers["idempotency-key"]);
    this.shipped.set(key, (this.shipped.get(key) ?? 0) + 1);
    response.writeHead(201, { "content-type": "application/json" }).end('{"ok":true}');
  }
}

describe.each(backends)("tenon replay --status dead ($name)", (backend: Backend) => {
  const testStorage = useTestStorage(backend);
  let db: TestDatabase;
  let storage: Storage;
  let warehouse: WarehouseApi;
  let connections: Connections;
  let engine: Engine;
  let cwd: string;

  beforeEach(async () => {
    cwd = mkdtempSync(join(tmpdir(), "tenon-replay-"));
    ({ db, storage } = testStorage);
    await storage.migrate();
    warehouse = new WarehouseApi();
    await warehouse.start();
    connections = testConnections(storage, { warehouse: { baseUrl: warehouse.origin, circuit: false } });
    const fulfilment = defineIntegration<{ orderId: number }>({
      id: "fulfilment",
      trigger: { event: "order.paid" },
      retries: { maxAttempts: 1 },
      run: ({ event, step, connection }) =>
        step.run("ship", async () => {
          const { body } = await connection("warehouse").request({
            method: "POST",
            path: "/shipments",
            json: { orderId: event.payload.orderId },
          });
          return body;
        }),
    });
    engine = testEngine({ storage, integrations: [fulfilment], connections, worker: { concurrency: 200 } });
    await engine.start();
  });

  afterEach(async () => {
    await engine.stop();
    await warehouse.close();
    rmSync(cwd, { recursive: true, force: true });
  });

  async function deadRuns(): Promise<string[]> {
    const runIds: string[] = [];
    for (let first = 0; first < runCount; first += 100) {
      const sends = Array.from({ length: 100 }, (_, i) =>
        engine.send({ type: "order.paid", payload: { orderId: first + i } }),
      );
      for (const result of await Promise.all(sends)) runIds.push(...result.runIds);
    }
    await waitFor(
      `${runCount} dead runs`,
      async () => (await storage.countRunsByStatus()).dead === runCount,
      60_000,
      100,
    );
    return runIds;
  }

  it("replays 1,000 dead runs once each, even when the replay is killed half-way and run again", async () => {
    const runIds = await deadRuns();

    const dryRun = await runTenonCli(cwd, ["replay", "--status", "dead", "--dry-run"], db.env);
    expect(dryRun.code, dryRun.stderr).toBe(0);
    expect(dryRun.stdout).toContain(`dry run: ${runCount} dead run(s) would be replayed; nothing was changed.`);
    expect(dryRun.stdout).toContain("the first 10:");
    expect((await storage.countRunsByStatus()).dead).toBe(runCount);

    warehouse.broken = false;
    // Throttled so that it is still at work when it is killed.
    const first = startTenonCli(cwd, ["replay", "--status", "dead", "--rps", "100"], db.env);
    await waitFor("the first replay to report progress", () => /replaying: [1-9]\d\d\//.test(first.stderr), 30_000);
    first.child.kill("SIGKILL");
    expect((await first.done).signal).toBe("SIGKILL");
    const leftDead = (await storage.countRunsByStatus()).dead ?? 0;
    expect(leftDead).toBeGreaterThan(0);
    expect(leftDead).toBeLessThan(runCount);

    const second = await runTenonCli(cwd, ["replay", "--status", "dead"], db.env);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toContain(`runs: replayed ${leftDead}, skipped 0, failed 0`);

    await waitFor(
      `all ${runCount} runs to succeed`,
      async () => (await storage.countRunsByStatus()).succeeded === runCount,
      60_000,
      100,
    );
    // Each run was replayed exactly once, and shipped exactly once.
    for (const runId of runIds) {
      const replays = (await storage.listRunHistory(runId)).filter((entry) => entry.kind === "replay");
      expect(replays, runId).toHaveLength(1);
      expect(warehouse.shipped.get(`${runId}:ship`), runId).toBe(1);
    }
    expect(warehouse.shipped.size).toBe(runCount);

    const again = await runTenonCli(cwd, ["replay", "--status", "dead"], db.env);
    expect(again.stdout).toContain("runs: replayed 0, skipped 0, failed 0");
  }, 120_000);
});
